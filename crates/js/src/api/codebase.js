// pipy.load / pipy.solve (copied onto every module's `pipy` from
// __proxy_pipy_api) and Data-based JSON, on top of two native helpers.
(function (g) {
  var load = g.__proxy_load, evaluate = g.__proxy_eval;
  var solved = new Map(), solving = new Set();
  var api = {};
  Object.defineProperty(g, '__proxy_pipy_api', { value: api });
  api.load = function (path) { return load(String(path)); };
  api.pid = g.__proxy_pid;
  api.since = g.__proxy_since;
  api.argv = g.__proxy_argv;
  api.thread = g.__thread;
  api.now = function () { return Date.now(); };
  api.exit = function (code) { g.__proxy_exit(code === undefined ? 0 : +code); };
  api.restart = function () { g.__proxy_restart(); };
  api.solve = function (path) {
    path = String(path);
    if (solved.has(path)) return solved.get(path);
    if (solving.has(path)) throw new Error('pipy.solve: ' + path + ' depends on itself');
    var data = load(path);
    if (data === null) throw new Error('pipy.solve: cannot read ' + path);
    solving.add(path);
    try {
      var value = evaluate(data.toString(), path);
      solved.set(path, value);
      return value;
    } finally {
      solving.delete(path);
    }
  };
  JSON.decode = function (data, reviver) { return JSON.parse(data.toString(), reviver); };
  JSON.encode = function (value, replacer, space) { return new g.Data(JSON.stringify(value, replacer, space)); };
})(globalThis);
