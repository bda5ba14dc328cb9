// Preloaded with `node --import`: Portkey's start-server listens on every interface
// (it passes no host to Node's listen); the tests keep it on 127.0.0.1.
import net from 'node:net';

const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (port, host, ...rest) {
  if (typeof port === 'number' && (host === undefined || typeof host === 'function')) {
    return listen.call(this, port, '127.0.0.1', ...(typeof host === 'function' ? [host] : rest));
  }
  return listen.call(this, port, host, ...rest);
};
