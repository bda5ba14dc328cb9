"""`relc watch`: the control loop. Git decides, the watcher delivers.

Every tick it fast-forwards its clone from the remote branch and delivers a new commit
into the gateway's folder (`deliver.py`); it evaluates each release in rollout with the
same pure decision as `relc evaluate`, and on a rollback commits, flips the gateway's
files at once, then pushes (`loop.py`). Its own health is served over HTTP and every
event is one JSON line (`health.py`).
"""
