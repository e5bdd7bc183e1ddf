// Preloaded into server-everything's HTTP transports (`node -r ./loopback.cjs …`): they call
// `app.listen(PORT)` with no host, which binds every interface. This makes a listen on a bare
// port bind 127.0.0.1 only, so the tests never open a port beyond loopback.
const net = require("net");
const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
  const port = args[0];
  const bare = typeof port === "number" || (typeof port === "string" && /^\d+$/.test(port));
  if (bare && typeof args[1] !== "string") {
    return listen.call(this, Number(port), "127.0.0.1", ...args.slice(1));
  }
  return listen.apply(this, args);
};
