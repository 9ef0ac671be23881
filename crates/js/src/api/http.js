// http.Agent: the script side of http_agent.rs.
(function (g) {
  var send = g.__proxy_http_request;
  function Agent(host, options) {
    if (!(this instanceof Agent)) return new Agent(host, options);
    this.host = String(host);
    this.options = options || {};
  }
  Agent.prototype.request = function (method, path, headers, body) {
    var h = {};
    var hasHost = false;
    if (headers && typeof headers === 'object') {
      Object.keys(headers).forEach(function (k) {
        h[k] = headers[k];
        if (k.toLowerCase() === 'host') hasHost = true;
      });
    }
    if (!hasHost) h.host = this.host;
    var msg = new Message({ method: String(method || 'GET'), path: String(path || '/'), headers: h }, body === undefined || body === null ? '' : body);
    return send(this.host, msg, this.options);
  };
  g.http = g.http || {};
  g.http.Agent = Agent;
})(globalThis);
