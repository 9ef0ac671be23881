// "gzip-64k": the reverse proxy gzipping the origin's 64 KiB text answer as it
// streams, for clients that accept gzip, as a script would write it. Level 2:
// with zlib-rs, the level whose output is no larger than nginx's level 1 (its
// gzip_comp_level default, zlib): 24,379 bytes against 25,744 (zlib-rs's level
// 1 is its quick strategy, 36,569 bytes).
pipy({ _gzip: false })
.listen('127.0.0.1:__PORT__')
.demuxHTTP().to($=>$
  .handleMessageStart(msg => _gzip = (msg.head.headers['accept-encoding'] || '').includes('gzip'))
  .muxHTTP().to($=>$.connect('127.0.0.1:__ORIGIN__'))
  .compressHTTP(() => _gzip ? 'gzip' : undefined, { level: 2 })
)
