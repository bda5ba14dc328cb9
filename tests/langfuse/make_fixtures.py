"""Write the Langfuse API responses the tests serve (run once; the JSON files are committed).

No Langfuse server can run here, so these are `GET /api/public/v2/scores` answers written
to Langfuse's API reference, field for field: `GetScoresResponse` (data + meta
{page, limit, totalItems, totalPages}) in fern/apis/server/definition/legacy/scores-v2.yml
and `NumericScore` / `CategoricalScore` / `BooleanScore` (BaseScore fields) in
fern/apis/server/definition/commons.yml of the langfuse/langfuse repository; the 401 body
is the one its ApiAuthService returns for a wrong key pair. Usage: python make_fixtures.py
"""

import json
from pathlib import Path

HERE = Path(__file__).parent


def score(index: int, release: str, version: str, name: str, data_type: str, value: float | None, label: str | None) -> dict:
    item = {
        "id": f"score-{release}-{version}-{name}-{index:04d}",
        "traceId": f"trace-{release}-{version}-{index:04d}",
        "name": name,
        "source": "EVAL",
        "observationId": None,
        "timestamp": f"2026-11-25T08:{index // 60 % 60:02d}:{index % 60:02d}.000Z",
        "createdAt": f"2026-11-25T08:{index // 60 % 60:02d}:{index % 60:02d}.000Z",
        "updatedAt": f"2026-11-25T08:{index // 60 % 60:02d}:{index % 60:02d}.000Z",
        "authorUserId": None,
        "comment": None,
        "configId": None,
        "queueId": None,
        "environment": "default",
        "dataType": data_type,
        "value": value,
        "trace": {"userId": f"user-{index % 7}", "tags": ["support", f"relc.release:{release}", f"relc.bundle.version:{version}"],
                  "environment": "default"},
    }
    if label is not None:
        item["stringValue"] = label
    return item


def pages(items: list[dict], limit: int = 100) -> list[dict]:
    total_pages = (len(items) + limit - 1) // limit
    return [{"data": items[start:start + limit],
             "meta": {"page": number, "limit": limit, "totalItems": len(items), "totalPages": total_pages}}
            for number, start in enumerate(range(0, len(items), limit), start=1)]


def hallucination(release: str, version: str, judged: int, hallucinated: int) -> list[dict]:
    labels = ["hallucinated"] * hallucinated + ["factual"] * (judged - hallucinated)
    return [score(i, release, version, "hallucination", "CATEGORICAL", None, label) for i, label in enumerate(labels)]


def write(name: str, document: dict) -> None:
    """One score a line, so a diff shows which score changed."""
    if "data" not in document:
        (HERE / name).write_text(json.dumps(document) + "\n")
        return
    lines = ",\n".join("  " + json.dumps(item) for item in document["data"])
    (HERE / name).write_text(f'{{"data": [\n{lines}\n], "meta": {json.dumps(document["meta"])}}}\n')


def main() -> None:
    # chat: stable v1 hallucinates 10% of 60 judged traces; candidate v2 20% of 120, over two pages.
    write("scores-hallucination-chat-v1-page1.json", pages(hallucination("chat", "v1", 60, 6))[0])
    for number, page in enumerate(pages(hallucination("chat", "v2", 120, 24)), start=1):
        write(f"scores-hallucination-chat-v2-page{number}.json", page)
    # chat v2 groundedness: NUMERIC judge scores; user feedback: BOOLEAN (1 = thumbs down).
    grounded = [score(i, "chat", "v2", "groundedness", "NUMERIC", value, None) for i, value in enumerate([0.9, 0.8, 0.7, 0.6])]
    write("scores-groundedness-chat-v2-page1.json", pages(grounded)[0])
    feedback = [score(i, "chat", "v2", "user_feedback", "BOOLEAN", value, "True" if value else "False")
                for i, value in enumerate([1, 0, 0, 0])]
    write("scores-user_feedback-chat-v2-page1.json", pages(feedback)[0])
    # few: 10 judged traces each, below min_samples.
    write("scores-hallucination-few-v1-page1.json", pages(hallucination("few", "v1", 10, 1))[0])
    write("scores-hallucination-few-v2-page1.json", pages(hallucination("few", "v2", 10, 5))[0])
    write("empty.json", {"data": [], "meta": {"page": 1, "limit": 100, "totalItems": 0, "totalPages": 0}})
    write("unauthorized.json", {"error": "UnauthorizedError",
                                "message": "Invalid credentials. Confirm that you've configured the correct host."})


if __name__ == "__main__":
    main()
