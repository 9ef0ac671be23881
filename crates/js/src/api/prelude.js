// Script-side event classes. They are plain JavaScript; the host reads them back by
// the `__kind` number each prototype carries (see `Kind` in convert.rs). `Data`,
// `Message` and `MessageStart` are native.
(function (g) {
  var Data = g.Data;
  // Native classes get their tag here, so the host can tell values apart without
  // a failing class check (which would build an exception).
  Object.defineProperty(Data.prototype, '__kind', { value: 1 });
  Object.defineProperty(g.Message.prototype, '__kind', { value: 2 });
  var MessageStart = g.MessageStart;
  Object.defineProperty(MessageStart.prototype, '__kind', { value: 3 });
  Object.defineProperty(MessageStart.prototype, 'type', { value: 'MessageStart' });
  function MessageEnd(tail, payload) {
    if (!(this instanceof MessageEnd)) return new MessageEnd(tail, payload);
    this.tail = tail; this.payload = payload;
  }
  Object.defineProperty(MessageEnd.prototype, '__kind', { value: 4 });
  Object.defineProperty(MessageEnd.prototype, 'type', { value: 'MessageEnd' });
  function StreamEnd(error) {
    if (!(this instanceof StreamEnd)) return new StreamEnd(error);
    this.error = error === undefined ? '' : error;
  }
  Object.defineProperty(StreamEnd.prototype, '__kind', { value: 5 });
  Object.defineProperty(StreamEnd.prototype, 'type', { value: 'StreamEnd' });
  // A Timeout runs from when it is made (or restarted), as in Pipy. However
  // often it is restarted to a later deadline, it has one sleep pending: a
  // sleep that ends before the latest deadline sleeps again for what is left.
  // A restart to an earlier deadline starts a new sleep; the old one, when it
  // ends, sees it was replaced and does nothing.
  var PENDING = 0, FIRED = 1, CANCELED = 2;
  function Timeout(seconds) {
    if (!(this instanceof Timeout)) return new Timeout(seconds);
    this.seconds = +seconds || 0;
    Object.defineProperty(this, '__t', {
      value: { state: PENDING, deadline: 0, sleeping: false, sleepEnd: 0, gen: 0, waiters: [] },
    });
    arm(this);
  }
  function settle(t) {
    var s = t.__t, waiters = s.waiters;
    s.waiters = [];
    for (var i = 0; i < waiters.length; i++) waiters[i][s.state === FIRED ? 0 : 1](t);
  }
  function sleep(t, ms) {
    var s = t.__t, gen = ++s.gen;
    s.sleeping = true;
    s.sleepEnd = g.__proxy_now() + ms;
    g.__proxy_sleep(ms).then(function () {
      if (gen !== s.gen) return;
      s.sleeping = false;
      if (s.state !== PENDING) return;
      var left = s.deadline - g.__proxy_now();
      if (left > 0) return sleep(t, left);
      s.state = FIRED;
      settle(t);
    });
  }
  function arm(t) {
    var s = t.__t;
    s.state = PENDING;
    s.deadline = g.__proxy_now() + t.seconds * 1000;
    if (s.sleeping && s.deadline >= s.sleepEnd) return;
    sleep(t, t.seconds * 1000);
  }
  Timeout.prototype.wait = function () {
    var t = this, s = t.__t;
    if (s.state === FIRED) return Promise.resolve(t);
    if (s.state === CANCELED) return Promise.reject(t);
    return new Promise(function (resolve, reject) { s.waiters.push([resolve, reject]); });
  };
  Timeout.prototype.restart = function (seconds) {
    if (seconds !== undefined) this.seconds = +seconds || 0;
    arm(this);
  };
  Timeout.prototype.cancel = function () {
    var s = this.__t;
    if (s.state !== PENDING) return;
    s.state = CANCELED;
    settle(this);
  };
  // PipyJS: `promise.then(value)` with a value that is not a function
  // settles with that value (`.then(new StreamEnd)`), where JavaScript would
  // pass the promise's own value through.
  var then = Promise.prototype.then;
  Object.defineProperty(Promise.prototype, 'then', {
    configurable: true,
    writable: true,
    value: function (done, failed) {
      if (done !== undefined && done !== null && typeof done !== 'function') {
        var value = done;
        done = function () { return value; };
      }
      return then.call(this, done, failed);
    },
  });
  g.MessageStart = MessageStart;
  g.MessageEnd = MessageEnd;
  g.StreamEnd = StreamEnd;
  g.Timeout = Timeout;
})(globalThis);
