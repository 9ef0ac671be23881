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
  function Timeout(seconds) {
    if (!(this instanceof Timeout)) return new Timeout(seconds);
    this.seconds = +seconds || 0;
  }
  Timeout.prototype.wait = function () { return g.__proxy_sleep(this.seconds * 1000); };
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
