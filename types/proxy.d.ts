// Types of proxy's script API (Pipy 1.5's), for editors and type-checking scripts:
// put `/// <reference path="path/to/types/proxy.d.ts" />` at the top of a script, or
// list this file in a jsconfig.json / tsconfig.json. The filter methods and their
// options below are generated from the filter registry; the classes and globals are
// written by hand (docs/reference/ says the same in prose).

/** A sub-pipeline: a pipeline's name, a function that builds one on `$`, or a `pipeline()` layout. */
type SubPipeline = string | (($: Configuration) => Configuration) | PipelineLayout;

/** What a replacing filter may output: events, messages, or an array of them. */
type Events = Event | Message | (Event | Message)[] | null | undefined;

// The classes and globals below are declared here, not taken from TypeScript's "dom"
// library: check scripts with `"lib": ["es2020"]` (no "dom"), or `Event`, `URL`,
// `URLSearchParams`, `console` and `performance` are declared twice.

// ---- events and messages ----

/** Any event a pipeline carries. */
type Event = Data | MessageStart | MessageEnd | StreamEnd;

/** How text stands for bytes in `Data`: UTF-8 (the default), hexadecimal digits, Base64 or Base64url. */
type DataEncoding = 'utf8' | 'utf-8' | 'hex' | 'base64' | 'base64url';

/** Why a stream ended: `''` for a normal end, else the name of the failure. */
type StreamErrorName =
  | ''
  | 'Replay'
  | 'RuntimeError'
  | 'ReadError'
  | 'WriteError'
  | 'CannotResolve'
  | 'ConnectionAborted'
  | 'ConnectionReset'
  | 'ConnectionRefused'
  | 'ConnectionTimeout'
  | 'ReadTimeout'
  | 'WriteTimeout'
  | 'IdleTimeout'
  | 'BufferOverflow'
  | 'ProtocolError'
  | 'Unauthorized';

/** A chunk of bytes: the Data event, and the body of a Message. */
declare class Data {
  /** Empty bytes. */
  constructor();
  /** The bytes of a string in an encoding (default utf8), of an array of byte values, or of another Data. */
  constructor(value: string | number[] | Data, encoding?: DataEncoding);
  /** The same as `new Data(value, encoding)`; throws when the text is not valid in the encoding. */
  static from(value: string | number[] | Data, encoding?: DataEncoding): Data;
  /** Number of bytes. */
  readonly size: number;
  /** Always `'Data'`. */
  readonly type: 'Data';
  /** Appends the bytes of a Data, a string (UTF-8) or an array of byte values; returns nothing. */
  push(value: Data | string | number[]): void;
  /** Removes the first `count` bytes (all of them if there are fewer) and returns them. */
  shift(count: number): Data;
  /** Removes the last `count` bytes (all of them if there are fewer) and returns them. */
  pop(count: number): Data;
  /** Removes and returns the bytes up to and including the first one `scanner` accepts (all if none). */
  shiftTo(scanner: (byte: number) => any): Data;
  /** Removes and returns the bytes `scanner` accepts, up to the first it does not. */
  shiftWhile(scanner: (byte: number) => any): Data;
  /** The bytes as an array of numbers from 0 to 255. */
  toArray(): number[];
  /** The bytes as text in an encoding (default utf8; bytes that are not UTF-8 become U+FFFD). */
  toString(encoding?: DataEncoding): string;
}

/** The head of an HTTP message as scripts see it: a request has `method` and `path`, a response `status`. */
interface MessageHead {
  /** Request method, such as `'GET'` (a request head; default `'GET'`). */
  method?: string;
  /** Request target, such as `'/index.html?q=1'` (a request head; default `'/'`). */
  path?: string;
  /** Response status code (a response head; default 200). */
  status?: number;
  /** Response reason phrase, such as `'OK'` (a response head). */
  statusText?: string;
  /** Protocol version, `'HTTP/1.1'` by default. */
  protocol?: string;
  /** Header fields by lowercase name; repeated fields are joined with `', '`, and `set-cookie` is an array. */
  headers?: { [name: string]: string | string[] };
  /** A WebSocket message's opcode: 1 text, 2 binary, 8 close, 9 ping, 10 pong (a head with it and no `status` is a WebSocket head). */
  opcode?: number;
  /** A WebSocket message: whether its frames are (to be) masked. */
  masked?: boolean;
  /** Other fields a script adds are kept on the object but not sent. */
  [field: string]: any;
}

/** The tail of a decoded HTTP message. */
interface MessageTail {
  /** Bytes of the head as received. */
  headSize: number;
  /** Bytes of the body as received. */
  bodySize: number;
  /** Other fields a script adds are kept on the object but not sent. */
  [field: string]: any;
}

/** A whole message: a head, a body and a tail (MessageStart, Data, MessageEnd in a stream). */
declare class Message {
  /** A message with no head and an empty body. */
  constructor();
  /** A message with no head and this body. */
  constructor(body: string | Data);
  /** A message with this head, body (default empty) and tail. */
  constructor(head: MessageHead | null | undefined, body?: string | Data | null, tail?: object);
  /** The head; undefined for a message built without one. */
  head: MessageHead | undefined;
  /** The body as Data (the same object on every read); reads back as given when set to a string. */
  get body(): Data;
  set body(value: Data | string);
  /** The tail: `headSize` and `bodySize` of a decoded message, undefined for a message built without one. */
  tail: MessageTail | undefined;
  /** What a codec (decodeRESP) decoded the message into; undefined otherwise. */
  readonly payload: any;
}

/** The event that starts a message, carrying its head. */
declare class MessageStart {
  /** A MessageStart with this head (none if left out). */
  constructor(head?: MessageHead);
  /** The head; undefined when the event has none. */
  head: MessageHead | undefined;
  /** Always `'MessageStart'`. */
  readonly type: 'MessageStart';
}

/** The event that ends a message. */
declare class MessageEnd {
  /** A MessageEnd with this tail (dropped when the event goes down the pipeline) and payload (which goes with it). */
  constructor(tail?: object, payload?: any);
  /** The tail: `headSize` and `bodySize` of a decoded message, or what the constructor was given. */
  tail: MessageTail | undefined;
  /** What the constructor was given, or what a codec (decodeRESP) decoded the message into. */
  payload: any;
  /** Always `'MessageEnd'`. */
  readonly type: 'MessageEnd';
}

/** The event that ends a stream, with the reason if it failed. */
declare class StreamEnd {
  /** A StreamEnd with this error (default `''`: a normal end); an unknown name ends the stream as RuntimeError. */
  constructor(error?: StreamErrorName);
  /** `''` for a normal end, else the name of the failure. */
  error: StreamErrorName;
  /** Always `'StreamEnd'`. */
  readonly type: 'StreamEnd';
}

/** A delay to wait for in a callback. */
declare class Timeout {
  /** A delay of this many seconds (a number; anything else counts as 0). */
  constructor(seconds: number);
  /** The delay in seconds. */
  seconds: number;
  /** A Promise that resolves to this timeout once it has run out (counted from when it was made or restarted); rejects after cancel(). */
  wait(): Promise<Timeout>;
  /** Starts the count again, with a new delay if one is given. */
  restart(seconds?: number): void;
  /** Stops it; waits on it reject. */
  cancel(): void;
}

// ---- URLs ----

/** A parsed absolute URL, `scheme://[user[:password]@]host[:port][/path][?query][#hash]`. */
declare class URL {
  /** Parses `url`; a URL without a scheme is taken relative to `base`; throws TypeError when neither parses. */
  constructor(url: string, base?: string);
  /** The scheme, lowercase, with its colon: `'http:'`. */
  readonly protocol: string;
  /** `user:password` as written, or `''`. */
  readonly auth: string;
  /** The user name, or `''`. */
  readonly username: string;
  /** The password, or `''`. */
  readonly password: string;
  /** Host and port as written: `'Example.com:8080'`. */
  readonly host: string;
  /** The host without the port, lowercase. */
  readonly hostname: string;
  /** The port as written, else the scheme's default (`'80'` for http and ws, `'443'` for https and wss), else `''`. */
  readonly port: string;
  /** The path without the query, `'/'` when empty. */
  readonly pathname: string;
  /** The query with its `?`, or `''`. */
  readonly search: string;
  /** The query without its `?`, or `''`. */
  readonly query: string;
  /** The fragment with its `#`, or `''`. */
  readonly hash: string;
  /** `pathname` and `search` together. */
  readonly path: string;
  /** `protocol + '//' + host`. */
  readonly origin: string;
  /** The whole URL. */
  readonly href: string;
  /** The query's name-value pairs. */
  readonly searchParams: URLSearchParams;
  /** The same as `href`. */
  toString(): string;
  /** `encodeURI`. */
  static encode(text: string): string;
  /** `decodeURI`. */
  static decode(text: string): string;
  /** `encodeURIComponent`. */
  static encodeComponent(text: string): string;
  /** `decodeURIComponent`. */
  static decodeComponent(text: string): string;
}

/** The name-value pairs of a query string, in order; a name may appear more than once. */
declare class URLSearchParams {
  /** Pairs from a query string (with or without its `?`; `+` is a space) or from an object whose array values give a pair each. */
  constructor(init?: string | { [name: string]: any });
  /** The first value of `name`, or null. */
  get(name: string): string | null;
  /** Every value of `name`, in order. */
  getAll(name: string): string[];
  /** Whether `name` is there. */
  has(name: string): boolean;
  /** Makes `String(value)` the only value of `name` (in the place of its first pair, else at the end). */
  set(name: string, value: any): void;
  /** Adds a pair at the end. */
  append(name: string, value: any): void;
  /** Removes every pair of `name`. */
  delete(name: string): void;
  /** The pairs as an object: a name seen once has a string, a repeated one an array. */
  toObject(): { [name: string]: string | string[] };
  /** The pairs as a query string without `?`, percent-encoded. */
  toString(): string;
}

// ---- crypto ----

/** Certificates and keys, for the TLS filters. Each is read from PEM text or DER (a string or Data). */
declare namespace crypto {
  /** One X.509 certificate. */
  class Certificate {
    constructor(pem: string | Data);
    /** The subject's attributes by long name (`commonName`, `organizationName`...). */
    readonly subject: { [name: string]: string };
    /** The issuer's attributes by long name. */
    readonly issuer: { [name: string]: string };
    /** The DNS names it is for. */
    readonly subjectAltNames: string[];
    /** Start of validity, milliseconds since the epoch. */
    readonly notBefore: number;
    /** End of validity, milliseconds since the epoch. */
    readonly notAfter: number;
    /** PEM text of it. */
    toPEM(): Data;
  }
  /** A certificate and those that certify it, leaf first. */
  class CertificateChain {
    constructor(pem: string | Data);
    /** How many certificates it holds. */
    readonly size: number;
  }
  /** A private key (PKCS#8, SEC1 or PKCS#1). */
  class PrivateKey {
    constructor(pem: string | Data);
    /** PEM text of it. */
    toPEM(): Data;
  }
  /** A public key. */
  class PublicKey {
    constructor(pem: string | Data | PrivateKey);
    /** PEM text of it. */
    toPEM(): Data;
  }
  /** A JSON Web Token; `verify` checks its signature only (the claims are the script's). */
  class JWT {
    constructor(token: string);
    /** True if it decodes and its `alg` is one that is checked (`none` is not). */
    readonly isValid: boolean;
    readonly header: { [name: string]: any } | undefined;
    readonly payload: { [name: string]: any } | undefined;
    /** Whether the signature is right for a public key (RSA, ECDSA) or a shared secret (HMAC). */
    verify(key: PublicKey | JWK | PrivateKey | string | Data): boolean;
  }

  /** A public key given as a JSON Web Key (`{kty: 'RSA', n, e}` or `{kty: 'EC', crv, x, y}`). */
  class JWK {
    constructor(json: { [name: string]: any });
    /** Always true: a key that cannot be read throws when made. */
    readonly isValid: boolean;
  }

  /** A digest: md5, sha1, sha224, sha256, sha384 or sha512. */
  class Hash {
    constructor(algorithm: string);
    update(data: Data | string, encoding?: 'utf8' | 'hex' | 'base64' | 'base64url'): void;
    digest(): Data;
    digest(encoding: 'hex' | 'base64' | 'base64url'): string;
  }

  /** An HMAC with one of Hash's algorithms. */
  class Hmac {
    constructor(algorithm: string, key: string | Data);
    update(data: Data | string, encoding?: 'utf8' | 'hex' | 'base64' | 'base64url'): void;
    digest(): Data;
    digest(encoding: 'hex' | 'base64' | 'base64url'): string;
  }

  /** The key and IV of a cipher. */
  interface CipherOptions {
    key: Data | string;
    iv?: Data | string;
  }

  /** AES encryption (aes-128/192/256 with cbc, ecb or ctr), as `openssl enc` does it. */
  class Cipher {
    constructor(algorithm: string, options: CipherOptions);
    /** What could be encrypted so far. */
    update(data: Data | string): Data;
    /** The rest, padded, once. */
    final(): Data;
  }

  /** AES decryption, the inverse of Cipher. */
  class Decipher {
    constructor(algorithm: string, options: CipherOptions);
    /** What could be decrypted so far. */
    update(data: Data | string): Data;
    /** The rest, its padding removed, once; throws on a bad padding. */
    final(): Data;
  }

  /** A signature of a message with a private key (RSA PKCS #1 v1.5 or ECDSA, DER). */
  class Sign {
    /** With this digest: sha1, sha256, sha384 or sha512. */
    constructor(algorithm: string);
    update(data: Data | string, encoding?: 'utf8' | 'hex' | 'base64' | 'base64url'): void;
    /** The signature, once. */
    sign(key: PrivateKey): Data;
    sign(key: PrivateKey, encoding: 'hex' | 'base64' | 'base64url'): string;
  }

  /** Checks a signature of a message with a public key. */
  class Verify {
    /** With the digest the signature was made with. */
    constructor(algorithm: string);
    update(data: Data | string, encoding?: 'utf8' | 'hex' | 'base64' | 'base64url'): void;
    /** Whether `signature` is the key's signature of the message, once. */
    verify(key: PublicKey, signature: Data | string, encoding?: 'hex' | 'base64' | 'base64url'): boolean;
  }
}

// ---- algo ----

/** Algorithms scripts use to route, limit, balance and cache. */
declare namespace algo {
  /** Maps `host/path` patterns to values. */
  class URLRouter {
    /** A router holding each pattern of `routes` with its value. */
    constructor(routes?: { [pattern: string]: any });
    /** Adds a pattern (`/path`, `host/path`, `*.domain/path`, a path ending in `/*`); throws on one without `/` or with a port. */
    add(pattern: string, value: any): void;
    /** The value of the best pattern for the segments joined as `host/path` (port and `?query` ignored), or undefined. */
    find(...segments: (string | null | undefined)[]): any;
  }

  /** Options of `algo.Quota`. */
  interface QuotaOptions {
    /** Refill this long after a consumption: seconds, or a duration such as `'1s'`. */
    per?: number | string;
    /** Refill by at most this much each `per`, instead of all the way to the initial amount. */
    produce?: number;
    /** The quota never holds more than this, even through `produce()`. */
    max?: number;
  }

  /** An amount that throttling filters consume and that refills over time. */
  class Quota {
    /** A quota holding `initial` (negative counts as 0); an option `key` is refused. */
    constructor(initial: number, options?: QuotaOptions);
    /** The amount it starts with and refills to. */
    readonly initial: number;
    /** The amount there now. */
    readonly current: number;
    /** Takes up to `amount` and returns what was taken. */
    consume(amount: number): number;
    /** Adds `amount` (up to `max`) and wakes the filters waiting for it. */
    produce(amount: number): void;
    /** Back to the initial amount. */
    reset(): void;
  }

  /** What `RoundRobinLoadBalancer.next()` hands out: a target. */
  interface RoundRobinResource {
    /** The target's name. */
    id: string;
  }

  /** Weighted round robin over named targets, each borrower keeping the target it was given. */
  class RoundRobinLoadBalancer {
    /** Targets by name (weight 1 each) or as `{ name: weight }`; targets whose name `unhealthy.find()` returns truthy for are skipped. */
    constructor(targets: string[] | { [id: string]: number }, unhealthy?: { find(id: string): any });
    /** Adds a target or changes its weight, a whole number (fractions are rounded down; 0 leaves it out). */
    set(id: string, weight: number): void;
    /** The resource of `borrower` (default: the client connection), picking the next target on its first call; undefined when no target can be picked. */
    next(borrower?: object, key?: any, unhealthy?: { find(id: string): any }): RoundRobinResource | undefined;
    /** The same as `next()`. */
    borrow(borrower?: object, key?: any, unhealthy?: { find(id: string): any }): RoundRobinResource | undefined;
    /** The name of the next target, or undefined. */
    select(key?: any, unhealthy?: { find(id: string): any }): string | undefined;
    /** Does nothing. */
    deselect(id?: string): void;
  }

  /** Each new borrower to the target with the fewest borrowers for its weight. */
  class LeastWorkLoadBalancer {
    /** Targets by name (weight 1 each) or as `{ name: weight }`. */
    constructor(targets: string[] | { [id: string]: number }, unhealthy?: { find(id: string): any });
    /** Adds a target or changes its weight; given a list or an object, replaces the targets. */
    set(id: string | string[] | { [id: string]: number }, weight?: number): void;
    /** The resource of `borrower` (default: the client connection), counted on its target until given back. */
    next(borrower?: object, key?: any, unhealthy?: { find(id: string): any }): RoundRobinResource | undefined;
    /** The same as `next()`. */
    borrow(borrower?: object, key?: any, unhealthy?: { find(id: string): any }): RoundRobinResource | undefined;
    /** The least loaded target, counting one more on it. */
    select(key?: any, unhealthy?: { find(id: string): any }): string | undefined;
    /** One borrower less on `id`. */
    deselect(id: string): void;
  }

  /** A key to the same target every time, while the list stays the same. */
  class HashingLoadBalancer {
    /** Targets by name, or the keys of an object. */
    constructor(targets: string[] | { [id: string]: any }, unhealthy?: { find(id: string): any });
    /** Replaces the targets. */
    set(targets: string[] | { [id: string]: any }): void;
    /** Adds a target at the end. */
    add(id: string): void;
    /** The resource of `borrower`, picked by `key` on its first call. */
    next(borrower?: object, key?: any, unhealthy?: { find(id: string): any }): RoundRobinResource | undefined;
    /** The same as `next()`. */
    borrow(borrower?: object, key?: any, unhealthy?: { find(id: string): any }): RoundRobinResource | undefined;
    /** The target `key` hashes to; undefined if there is none or it is unhealthy. */
    select(key: any, unhealthy?: { find(id: string): any }): string | undefined;
    /** Does nothing. */
    deselect(id?: string): void;
  }

  /** Options of `algo.LoadBalancer`. */
  interface LoadBalancerOptions {
    /** `'round-robin'` (default): weighted turns; `'least-load'`: the target with the fewest resources in use. */
    algorithm?: 'round-robin' | 'least-load';
    /** The name of a target (default: the target itself). */
    key?: (target: any) => any;
    /** The weight of a target (default 1; 0 is never picked). */
    weight?: (target: any) => number;
    /** Resources a target hands out before they are shared (default 0: one per allocation). */
    capacity?: number | ((target: any) => number);
  }

  /** A resource `LoadBalancer.allocate()` hands out. */
  interface LoadBalancerResource {
    /** The target it belongs to. */
    readonly target: any;
    /** Gives it back. */
    free(): void;
  }

  /** Picks targets of any kind, and pools resources per target. */
  class LoadBalancer {
    /** A balancer over `targets`; throws on an unknown algorithm. */
    constructor(targets?: any[], options?: LoadBalancerOptions);
    /** Replaces the targets, keeping the state of those whose key stays. */
    provision(targets: any[]): void;
    /** The next `size` targets in the order allocations would pick them (each counts as picked). */
    schedule(size: number, validator?: (target: any) => boolean): any[];
    /** A resource of the next target `validator` accepts; null when there is none. */
    allocate(validator: (target: any) => boolean): LoadBalancerResource | null;
    /** A resource of the target named `key` if it is valid, else of the next valid target; null when there is none. */
    allocate(key?: any, validator?: (target: any) => boolean): LoadBalancerResource | null;
  }

  /** Options of `algo.Cache`. */
  interface CacheOptions {
    /** Most entries kept; the least recently used goes first (default 0: no limit). */
    size?: number;
    /** How long an entry lives after it was stored: seconds, or a duration such as `'10s'` (default 0: for ever). */
    ttl?: number | string;
  }

  /** A map with an optional loader for misses, a size limit and a time to live. */
  class Cache {
    /** A cache that calls `allocate(key)` for a missing key and `free(key, value)` for each entry that leaves. */
    constructor(allocate?: ((key: any) => any) | null, free?: ((key: any, value: any) => void) | null, options?: CacheOptions);
    /** A cache with options only. */
    constructor(options: CacheOptions);
    /** The value of `key`, loading and storing it through `allocate` when missing; undefined without `allocate`. */
    get(key: any): any;
    /** Stores a value for `key`. */
    set(key: any, value: any): void;
    /** The value of `key`, or undefined; never loads, never changes the order of use. */
    find(key: any): any;
    /** Whether `key` has a live entry. */
    has(key: any): boolean;
    /** Removes the entry of `key`; whether there was one. */
    remove(key: any): boolean;
    /** Removes every entry. */
    clear(): void;
    /** Number of entries (expired ones included until they are looked up). */
    readonly size: number;
  }

  /** A 32-bit FNV-1a hash of a value's text (objects: their JSON). */
  function hash(value: any): number;

  /** A random version-4 UUID, such as `'3b241101-e2bb-4255-8caf-4136c566a962'`. */
  function uuid(): string;
}

// ---- http ----

/** HTTP from scripts. */
declare namespace http {
  /** Options of `http.Agent`: those of `connect` for its connections. */
  interface AgentOptions {
    /** How long a connection attempt may take. */
    connectTimeout?: number | string;
    /** Closes a connection when nothing arrives for this long. */
    readTimeout?: number | string;
    /** Closes a connection when a write makes no progress for this long. */
    writeTimeout?: number | string;
    /** Closes a connection when nothing moves either way for this long. */
    idleTimeout?: number | string;
  }

  /** What `Agent.request()` returns: the Promise of the response, which can be given up. */
  interface AgentRequest extends Promise<Message> {
    /** Gives the request up: the Promise rejects and the connection closes if the answer has not come. */
    cancel(): void;
  }

  /** An HTTP/1.1 client of one server, keeping connections alive between requests. */
  class Agent {
    /** A client of `host` (`'name:port'` or `'ip:port'`). */
    constructor(host: string, options?: AgentOptions);
    /** The host given to the constructor. */
    readonly host: string;
    /** The options given to the constructor (`{}` if none). */
    readonly options: AgentOptions;
    /** Sends a request (`host` header added unless given); the Promise gives the response or rejects with an Error. */
    request(method: string, path?: string, headers?: { [name: string]: string | string[] }, body?: string | Data): AgentRequest;
  }

  /** Options of `http.Directory`. */
  interface DirectoryOptions {
    /** Read the folder from disk (a local codebase's own; dates and ranges) rather than through the codebase. */
    fs?: boolean;
    /** The index files tried for a path ending in `/` (default `['index', 'index.html']`). */
    index?: string | string[];
    /** Content types by extension, in place of the built-in table. */
    contentTypes?: { [extension: string]: string };
    /** The type of a file whose extension has none (default `application/octet-stream`). */
    defaultContentType?: string;
    /** The most bytes read for one answer, a whole file or a range (default `'64m'`). */
    maxFileSize?: number | string;
  }

  /** Static files under a folder of the codebase or, with `fs: true`, of the disk. */
  class Directory {
    constructor(root: string, options?: DirectoryOptions);
    /** The answer to a GET or HEAD request with a file, or null when no file answers it. */
    serve(request: Message): Message | null;
  }
}

// ---- the process ----

/** The operating system. */
declare namespace os {
  /** The environment variables of the process when the worker started. */
  const env: { [name: string]: string };
  /** The operating system: `'linux'`, `'macos'`, `'windows'`, .... */
  const platform: string;
  /** A file of the codebase, or null if there is none. */
  function readFile(path: string): Data | null;
}

/** Writes to the log, with the log's time stamp and level. */
declare namespace console {
  /** Logs at info level: strings as they are, other values as JSON, separated by spaces. */
  function log(...values: any[]): void;
  /** Logs at info level. */
  function info(...values: any[]): void;
  /** Logs at warning level. */
  function warn(...values: any[]): void;
  /** Logs at error level. */
  function error(...values: any[]): void;
  /** Logs at debug level (shown with `--log-level debug`). */
  function debug(...values: any[]): void;
}

/** Timing. */
declare namespace performance {
  /** Milliseconds, with fractions, since the worker started its script. */
  function now(): number;
}

/** Pipy's additions to the built-in JSON: text as Data. */
interface JSON {
  /** Parses the text of a Data (or a string) as JSON. */
  decode(data: Data | string, reviver?: (this: any, key: string, value: any) => any): any;
  /** Serializes a value as JSON, into a Data. */
  encode(value: any, replacer?: ((this: any, key: string, value: any) => any) | (string | number)[] | null, space?: string | number): Data;
}

/** Writes values to standard output: strings as they are, other values as JSON, separated by spaces. */
declare function print(...values: any[]): void;

/** Like `print`, then a newline. */
declare function println(...values: any[]): void;

/** Base64 of a string whose characters are all below U+0100 (throws InvalidCharacterError otherwise). */
declare function btoa(text: string): string;

/** The text (one character per byte) that Base64 `data` stands for. */
declare function atob(data: string): string;

/** The worker running the script. */
declare const __thread: {
  /** The worker's number, from 0. */
  id: number;
  /** How many workers there are. */
  concurrency: number;
};

/** A client connection, as `__inbound` shows it. */
interface Inbound {
  /** The connection's number in its worker, as Pipy numbers them. */
  readonly id: number;
  /** The client's IP address (the PROXY protocol header's source, once `acceptProxyProtocol` accepted one). */
  readonly remoteAddress: string;
  /** The client's port (likewise). */
  readonly remotePort: number;
  /** The local IP address the client connected to (the header's target, likewise). */
  readonly localAddress: string;
  /** The local port the client connected to (likewise). */
  readonly localPort: number;
  /** True once the connection has closed. */
  readonly closed: boolean;
}

/** What a PROXY protocol header says, as `acceptProxyProtocol`'s handler gets it. */
interface ProxyProtocolHeader {
  /** 1 or 2. */
  version: 1 | 2;
  /** `'PROXY'`, or `'LOCAL'` (version 2: a connection of the balancer's own, a health check). */
  command: 'PROXY' | 'LOCAL';
  /** `'TCP4'`, `'TCP6'`, `'UDP4'`, `'UDP6'`, `'UNIX'`, `'UNIX_DGRAM'` or `'UNKNOWN'`. */
  protocol: string;
  /** Whom the connection is from (absent for UNKNOWN, LOCAL and UNIX). */
  sourceAddress?: string;
  sourcePort?: number;
  /** Where it was made to. */
  targetAddress?: string;
  targetPort?: number;
}

/** A SOCKS client's request, as `acceptSOCKS`'s handler gets it. */
interface SOCKSRequest {
  /** 4 (4a too) or 5. */
  version: 4 | 5;
  /** The user id a version 4 client sent (`''` when none). */
  id: string;
  /** The target's address, when the client gave one. */
  ip?: string;
  /** The target's name, when the client gave one (4a, or version 5's domain form). */
  domain?: string;
  /** The target's port. */
  port: number;
}

/** The client connection of the stream a callback runs for; undefined outside a stream from `listen`. */
declare const __inbound: Inbound | undefined;

/** The path of the module's file in its codebase, such as `'/main.js'`. */
declare const __filename: string;

// ---- pipy() ----

/** Context variables: initial values by name, each stream of a root pipeline with its own. */
type ContextVariables = { [name: string]: any };

/** `pipy`: starts configuring pipelines, and holds the codebase's files and the newer API's ports. */
interface Pipy {
  /** Starts configuring pipelines, declaring the module's context variables (once per module) if given. */
  (variables?: ContextVariables | (() => ContextVariables)): Configuration;
  /** The bytes of a file of the codebase, or null if there is no such file. */
  load(path: string): Data | null;
  /** Evaluates a file of the codebase as a script and returns its value, once per file. */
  solve(path: string): any;
  /** Listens on a port (`8080`, `'127.0.0.1:8080'`) with a layout or a `$=>$` builder; `protocol` is `'tcp'` (the default) or `'udp'`. */
  listen(port: number | string, pipeline: PipelineLayout | (($: Configuration) => any) | null): void;
  listen(port: number | string, options: ListenOptions, pipeline: PipelineLayout | (($: Configuration) => any) | null): void;
  listen(port: number | string, protocol: 'tcp' | 'udp', pipeline: PipelineLayout | (($: Configuration) => any) | null): void;
  listen(port: number | string, protocol: 'tcp' | 'udp', options: ListenOptions, pipeline: PipelineLayout | (($: Configuration) => any) | null): void;
  /** The process's id. */
  readonly pid: number;
  /** When the process started, in milliseconds since the Unix epoch. */
  readonly since: number;
  /** The time now, in milliseconds since the Unix epoch. */
  now(): number;
  /** Stops the process as SIGINT does (open connections finish), then exits with `code` (default 0). */
  exit(code?: number): void;
  /** Loads the codebase again, as SIGHUP does. */
  restart(): void;
  /** Runs a pipeline once at start, fed a file of the codebase (one Data event, then StreamEnd). */
  read(path: string, pipeline: PipelineLayout | (($: Configuration) => any)): Promise<StreamEnd>;
  /** The exports of an ES module of the codebase (`.default` for its default export). */
  import(path: string): { [name: string]: any };
  /** The program's name, then the arguments given after `--` (or `--args`). */
  readonly argv: string[];
  /** This worker: its number (from 0) and how many there are. */
  readonly thread: { readonly id: number; readonly concurrency: number };
}

declare const pipy: Pipy;

/** The Redis protocol's values to and from bytes. */
declare namespace RESP {
  /** The Data of one RESP value. */
  function encode(value: any): Data;
  /** The values a run of RESP holds; throws on a malformed one. */
  function decode(data: Data | null): any[] | null;
}

/** XML documents as trees of nodes. */
declare namespace XML {
  /** An element: its name, attributes (null when none) and children (nodes and text). */
  class Node {
    /** A node; `attributes` an object of strings or null, `children` nodes and strings. */
    constructor(name: string, attributes?: { [name: string]: string } | null, children?: (Node | string)[]);
    name: string;
    attributes: { [name: string]: string } | null;
    children: (Node | string)[];
  }
  /** The document in `text` (a node named '' holding the root element); null if it is not well-formed. */
  function parse(text: string): Node | null;
  /** The text of a document, indented by `space` spaces per level when given. */
  function stringify(doc: Node, space?: number): string;
  /** `parse` of UTF-8 Data. */
  function decode(data: Data | null): Node | null;
  /** `stringify` as Data. */
  function encode(doc: Node | null, space?: number): Data | null;
}

/** Protocol Buffers messages without a schema: fields read and written by number and kind. */
declare namespace protobuf {
  /** A message: its records by field number, as they came. */
  class Message {
    /** A message with no fields. */
    constructor();
    /** How field `field` came: `'VARINT'`, `'I32'`, `'I64'`, `'LEN'`, or `''` if absent. */
    getWireType(field: number): 'VARINT' | 'I32' | 'I64' | 'LEN' | '';
    /** Field `field`'s last value read as float (0 if absent). */
    getFloat(field: number): number;
    /** Every value of field `field` as float, packed or not; null if a packed run is cut short. */
    getFloatArray(field: number): number[] | null;
    /** Sets field `field` to one float (null removes it). */
    setFloat(field: number, value: number | null): void;
    /** Sets field `field` to these float values, packed. */
    setFloatArray(field: number, values: number[]): void;
    /** Field `field`'s last value read as double (0 if absent). */
    getDouble(field: number): number;
    /** Every value of field `field` as double, packed or not; null if a packed run is cut short. */
    getDoubleArray(field: number): number[] | null;
    /** Sets field `field` to one double (null removes it). */
    setDouble(field: number, value: number | null): void;
    /** Sets field `field` to these double values, packed. */
    setDoubleArray(field: number, values: number[]): void;
    /** Field `field`'s last value read as int32 (0 if absent). */
    getInt32(field: number): number;
    /** Every value of field `field` as int32, packed or not; null if a packed run is cut short. */
    getInt32Array(field: number): number[] | null;
    /** Sets field `field` to one int32 (null removes it). */
    setInt32(field: number, value: number | null): void;
    /** Sets field `field` to these int32 values, packed. */
    setInt32Array(field: number, values: number[]): void;
    /** Field `field`'s last value read as int64 (0 if absent). */
    getInt64(field: number): number;
    /** Every value of field `field` as int64, packed or not; null if a packed run is cut short. */
    getInt64Array(field: number): number[] | null;
    /** Sets field `field` to one int64 (null removes it). */
    setInt64(field: number, value: number | null): void;
    /** Sets field `field` to these int64 values, packed. */
    setInt64Array(field: number, values: number[]): void;
    /** Field `field`'s last value read as uint32 (0 if absent). */
    getUint32(field: number): number;
    /** Every value of field `field` as uint32, packed or not; null if a packed run is cut short. */
    getUint32Array(field: number): number[] | null;
    /** Sets field `field` to one uint32 (null removes it). */
    setUint32(field: number, value: number | null): void;
    /** Sets field `field` to these uint32 values, packed. */
    setUint32Array(field: number, values: number[]): void;
    /** Field `field`'s last value read as uint64 (0 if absent). */
    getUint64(field: number): number;
    /** Every value of field `field` as uint64, packed or not; null if a packed run is cut short. */
    getUint64Array(field: number): number[] | null;
    /** Sets field `field` to one uint64 (null removes it). */
    setUint64(field: number, value: number | null): void;
    /** Sets field `field` to these uint64 values, packed. */
    setUint64Array(field: number, values: number[]): void;
    /** Field `field`'s last value read as sint32 (0 if absent). */
    getSint32(field: number): number;
    /** Every value of field `field` as sint32, packed or not; null if a packed run is cut short. */
    getSint32Array(field: number): number[] | null;
    /** Sets field `field` to one sint32 (null removes it). */
    setSint32(field: number, value: number | null): void;
    /** Sets field `field` to these sint32 values, packed. */
    setSint32Array(field: number, values: number[]): void;
    /** Field `field`'s last value read as sint64 (0 if absent). */
    getSint64(field: number): number;
    /** Every value of field `field` as sint64, packed or not; null if a packed run is cut short. */
    getSint64Array(field: number): number[] | null;
    /** Sets field `field` to one sint64 (null removes it). */
    setSint64(field: number, value: number | null): void;
    /** Sets field `field` to these sint64 values, packed. */
    setSint64Array(field: number, values: number[]): void;
    /** Field `field`'s last value read as fixed32 (0 if absent). */
    getFixed32(field: number): number;
    /** Every value of field `field` as fixed32, packed or not; null if a packed run is cut short. */
    getFixed32Array(field: number): number[] | null;
    /** Sets field `field` to one fixed32 (null removes it). */
    setFixed32(field: number, value: number | null): void;
    /** Sets field `field` to these fixed32 values, packed. */
    setFixed32Array(field: number, values: number[]): void;
    /** Field `field`'s last value read as fixed64 (0 if absent). */
    getFixed64(field: number): number;
    /** Every value of field `field` as fixed64, packed or not; null if a packed run is cut short. */
    getFixed64Array(field: number): number[] | null;
    /** Sets field `field` to one fixed64 (null removes it). */
    setFixed64(field: number, value: number | null): void;
    /** Sets field `field` to these fixed64 values, packed. */
    setFixed64Array(field: number, values: number[]): void;
    /** Field `field`'s last value read as sfixed32 (0 if absent). */
    getSfixed32(field: number): number;
    /** Every value of field `field` as sfixed32, packed or not; null if a packed run is cut short. */
    getSfixed32Array(field: number): number[] | null;
    /** Sets field `field` to one sfixed32 (null removes it). */
    setSfixed32(field: number, value: number | null): void;
    /** Sets field `field` to these sfixed32 values, packed. */
    setSfixed32Array(field: number, values: number[]): void;
    /** Field `field`'s last value read as sfixed64 (0 if absent). */
    getSfixed64(field: number): number;
    /** Every value of field `field` as sfixed64, packed or not; null if a packed run is cut short. */
    getSfixed64Array(field: number): number[] | null;
    /** Sets field `field` to one sfixed64 (null removes it). */
    setSfixed64(field: number, value: number | null): void;
    /** Sets field `field` to these sfixed64 values, packed. */
    setSfixed64Array(field: number, values: number[]): void;
    /** Field `field`'s last value read as a boolean (false if absent). */
    getBool(field: number): boolean;
    /** Every value of field `field` as a boolean. */
    getBoolArray(field: number): boolean[] | null;
    /** Sets field `field` to a boolean (null removes it). */
    setBool(field: number, value: boolean | null): void;
    /** Sets field `field` to these booleans, packed. */
    setBoolArray(field: number, values: boolean[]): void;
    /** Field `field`'s last value as UTF-8 text (null if absent). */
    getString(field: number): string | null;
    /** Every value of field `field` as text. */
    getStringArray(field: number): string[];
    /** Sets field `field` to text (null removes it). */
    setString(field: number, value: string | null): void;
    /** Sets field `field` to one record per string. */
    setStringArray(field: number, values: string[]): void;
    /** Field `field`'s last value as bytes (null if absent). */
    getBytes(field: number): Data | null;
    /** Every value of field `field` as bytes. */
    getBytesArray(field: number): Data[];
    /** Sets field `field` to bytes (null removes it). */
    setBytes(field: number, value: Data | string | null): void;
    /** Sets field `field` to one record per item. */
    setBytesArray(field: number, values: (Data | string)[]): void;
    /** Field `field`'s last value read as a message (null if absent or not one). */
    getMessage(field: number): protobuf.Message | null;
    /** Every value of field `field` read as a message (null for one that is not). */
    getMessageArray(field: number): (protobuf.Message | null)[];
    /** Sets field `field` to a message (null removes it). */
    setMessage(field: number, value: protobuf.Message | null): void;
    /** Sets field `field` to one record per message. */
    setMessageArray(field: number, values: protobuf.Message[]): void;
  }
  /** The message in `data`; null if the bytes are not one. */
  function decode(data: Data | null): Message | null;
  /** The bytes of a message, fields in number order. */
  function encode(message: Message | null): Data | null;
}

/** An IPv4 or IPv6 network: `new Netmask('10.0.0.0/8').contains(ip)`. */
declare class Netmask {
  constructor(cidr: string);
  constructor(bitmask: number, ip: string | number[]);
  readonly version: 4 | 6;
  readonly ip: string;
  readonly bitmask: number;
  readonly base: string;
  readonly mask: string;
  readonly hostmask: string;
  readonly broadcast: string;
  readonly size: number;
  readonly first: string;
  readonly last: string;
  contains(ip: string): boolean;
  toString(): string;
}

/** YAML in and out (the first document of a text; block style out). */
declare namespace YAML {
  function parse(text: string, reviver?: (key: string, value: any) => any): any;
  function stringify(value: any, replacer?: (key: string, value: any) => any): string | undefined;
  function decode(data: Data | string, reviver?: (key: string, value: any) => any): any;
  function encode(value: any, replacer?: (key: string, value: any) => any): Data | undefined;
}

/** A pipeline layout made by `pipeline($=>$...)`, used wherever a `$=>$` builder is, in its module or another. */
interface PipelineLayout {
  /** Not to be read: which layout it is. */
  readonly __proxy_layout_draft: number;
  /** Runs one pipeline of it when the worker starts (while the script loads). */
  spawn(): PipelineLayout;
}

/** Makes a pipeline layout from a `$=>$` builder (Pipy's newer API). */
declare function pipeline(build: ($: Configuration) => any): PipelineLayout;

declare namespace pipeline {
  /** Where the streams of `swap` meet (one worker's). */
  class Hub {
    constructor();
    /** How many streams have joined it. */
    readonly size: number;
  }
}

/** The methods that make pipeline layouts and their start; the filters are declared below. */
interface Configuration {
  /** Starts a pipeline layout run for each connection accepted on a port (`8080`, `'8080'` or `'127.0.0.1:8080'`). */
  listen(port: number | string, options?: ListenOptions): Configuration;
  /** Starts a pipeline layout run once at start, every interval (`'5s'`, or seconds), or on `'SIGHUP'`, `'SIGUSR1'`, `'SIGUSR2'`. */
  task(when?: number | string): Configuration;
  /** Starts a pipeline layout run once when the worker stops (it takes no arguments: give it onStart()). */
  exit(): Configuration;
  /** Starts a pipeline layout with a name, or the module's entrance (no name) that chain() and use() run. */
  pipeline(name?: string): Configuration;
  /** Calls `build($, i)` for i from 0 to count - 1, at load time. */
  repeat(count: number, build: ($: Configuration, i: number) => any): Configuration;
  /** Calls `build($, value, i)` for each value, at load time. */
  repeat<T>(values: T[], build: ($: Configuration, value: T, i: number) => any): Configuration;
  /** Events fed to each pipeline of the current layout as it starts, or a function (given the client connection, or the fork value) returning them. */
  onStart(start: Events | ((...args: any[]) => Events | Promise<Events>)): Configuration;
  /** A function called, in its context, when each pipeline of the current layout is gone. */
  onEnd(f: () => any): Configuration;
  /** The sub-pipeline of the filter just added. */
  to(sub: SubPipeline): Configuration;
  /** Declares context variables other modules can import, under a namespace. */
  export(namespace: string, variables: ContextVariables): Configuration;
  /** Makes variables another module exported usable here: `{ name: 'namespace' }`. */
  import(variables: { [name: string]: string }): Configuration;
}

// ---- generated from the filter registry by scripts/reference.sh: do not edit by hand ----

/** The filters: methods of a pipeline layout under construction. */
interface Configuration {
  /** Answers each HTTP request on the connection with a message or what a function returns. */
  serveHTTP(handler: Message | ((request: Message) => Message | Promise<Message>), options?: ServeHTTPOptions): Configuration;
  /** Serves HTTP on the connection, each request in a sub-pipeline of its own that answers it. */
  demuxHTTP(options?: DemuxHTTPOptions): Configuration;
  /** Sends each HTTP request through an upstream session shared by the streams of the same key. */
  muxHTTP(key?: any | (() => any), options?: MuxHTTPOptions): Configuration;
  /** Answers a CONNECT or Upgrade request with the handler's Message and, if that opens the tunnel, passes the bytes that follow to its sub-pipeline. */
  acceptHTTPTunnel(handler: (request: Message) => Message | undefined | Promise<Message | undefined>): Configuration;
  /** Opens an HTTP tunnel with a CONNECT (or Upgrade) request through its sub-pipeline and sends the stream through it. */
  connectHTTPTunnel(handshake: Message | string | (() => Message | string), options?: ConnectHTTPTunnelOptions): Configuration;
  /** A SOCKS 4/4a/5 server: reads the client's CONNECT request and, if the handler accepts it, passes the rest of the stream to its sub-pipeline. */
  acceptSOCKS(handler: (request: SOCKSRequest) => boolean): Configuration;
  /** Asks the SOCKS 5 proxy its sub-pipeline reaches to connect to the target, then sends the stream through it. */
  connectSOCKS(target: string | (() => string)): Configuration;
  /** Compresses each message's body with gzip or deflate, unless it already has a content-encoding. */
  compressHTTP(method: 'gzip' | 'deflate' | CompressHTTPOptions | ((head: MessageStart) => string | undefined), options?: CompressHTTPOptions): Configuration;
  /** Inflates each message body in gzip, deflate or brotli, bounded by maxSize. */
  decompressHTTP(enable?: (head: MessageStart) => boolean, options?: DecompressHTTPOptions): Configuration;
  /** Compresses a raw byte stream with gzip or deflate. */
  compress(method: 'gzip' | 'deflate' | (() => string)): Configuration;
  /** Inflates a raw gzip, deflate or brotli byte stream, bounded by maxSize. */
  decompress(method: 'gzip' | 'deflate' | 'brotli' | (() => string), options?: DecompressOptions): Configuration;
  /** Reads the PROXY protocol header before a stream and, if the handler accepts it, passes the rest to its sub-pipeline. */
  acceptProxyProtocol(handler: (header: ProxyProtocolHeader) => boolean): Configuration;
  /** Puts a PROXY protocol header before the stream it sends to its sub-pipeline. */
  connectProxyProtocol(header: ProxyProtocolHeader | (() => ProxyProtocolHeader)): Configuration;
  /** Decodes bytes into HTTP/1 request messages. */
  decodeHTTPRequest(options?: DecodeHTTPRequestOptions): Configuration;
  /** Decodes bytes into HTTP/1 response messages. */
  decodeHTTPResponse(options?: DecodeHTTPResponseOptions): Configuration;
  /** Encodes HTTP request messages into HTTP/1 bytes. */
  encodeHTTPRequest(options?: EncodeHTTPRequestOptions): Configuration;
  /** Encodes HTTP response messages into HTTP/1 bytes. */
  encodeHTTPResponse(options?: EncodeHTTPResponseOptions): Configuration;
  /** Decodes WebSocket frames into messages (head: opcode, masked), payloads streaming. */
  decodeWebSocket(options?: DecodeWebSocketOptions): Configuration;
  /** Decodes the Redis protocol (RESP) into messages whose MessageEnd payload is each value. */
  decodeRESP(options?: DecodeRESPOptions): Configuration;
  /** Encodes each message's MessageEnd payload as one Redis protocol (RESP) value. */
  encodeRESP(): Configuration;
  /** Decodes MQTT packets into messages: fields in the head, application message in the body. */
  decodeMQTT(options?: DecodeMQTTOptions): Configuration;
  /** Encodes messages into MQTT packets: fields from the head, application message from the body. */
  encodeMQTT(): Configuration;
  /** Splits each multipart message into one message per part. */
  decodeMultipart(): Configuration;
  /** Decodes Dubbo frames into messages: the frame header as the head, the body streamed. */
  decodeDubbo(options?: DecodeDubboOptions): Configuration;
  /** Encodes messages into Dubbo frames: the head as the frame header, the body after it. */
  encodeDubbo(): Configuration;
  /** Decodes Thrift messages into messages whose MessageEnd payload is the message object. */
  decodeThrift(options?: DecodeThriftOptions): Configuration;
  /** Encodes the message object in each MessageEnd payload as a Thrift message. */
  encodeThrift(): Configuration;
  /** Encodes messages (head: opcode, masked) into WebSocket frames. */
  encodeWebSocket(): Configuration;
  /** Runs a named pipeline inline, sharing the stream's context. */
  link(pipeline: SubPipeline): Configuration;
  /** Runs the entrance pipelines of a list of modules as a plugin chain; chain() runs the next one. */
  chain(modules?: string[]): Configuration;
  /** Runs a pipeline (or a chain of them) chosen per stream, sharing its context. */
  pipe(target: PipelineLayout | PipelineLayout[] | ((event: Event) => PipelineLayout | PipelineLayout[] | string | null), map?: { [key: string]: PipelineLayout | (($: Configuration) => any) }, args?: any[] | ((event: Event) => any)): Configuration;
  /** Runs the next pipeline of the chain pipe() started, or passes events on past its end. */
  pipeNext(args?: any[] | ((event: Event) => any)): Configuration;
  /** Joins the stream to a pipeline.Hub: what comes in goes out of every other stream joined to it. */
  swap(hub: pipeline.Hub | (() => pipeline.Hub | null)): Configuration;
  /** Splits the stream's bytes into a message per piece between separators. */
  split(separator: string | Data | (() => string | Data)): Configuration;
  /** Puts events into the stream before its first event. */
  insert(events: Events | (() => Events)): Configuration;
  /** Runs the sub-pipeline again, on the same input, while the condition says so when it ends. */
  repeat(condition: (end: StreamEnd) => boolean | Promise<boolean>): Configuration;
  /** Runs a sub-pipeline whose output goes out and back into it. */
  loop(pipeline: SubPipeline): Configuration;
  /** Runs a named pipeline of each of a list of modules in turn, and optionally a second one on the way back. */
  use(modules: string | string[], pipeline: string, turnDown?: string | (() => boolean), turnDownCondition?: () => boolean): Configuration;
  /** Holds the stream's events until a condition holds. */
  wait(condition: () => boolean, options?: WaitOptions): Configuration;
  /** Lets messages through only as fast as a quota allows, one unit each. */
  throttleMessageRate(quota: algo.Quota | (() => algo.Quota)): Configuration;
  /** Lets bytes through only as fast as a quota allows, one unit per byte. */
  throttleDataRate(quota: algo.Quota | (() => algo.Quota)): Configuration;
  /** Lets only as many streams run at once as a quota has units; the others wait. */
  throttleConcurrency(quota: algo.Quota | (() => algo.Quota)): Configuration;
  /** Copies every event to sub-pipelines (one per value) and passes it on. */
  fork(values?: any | any[] | (() => any | any[])): Configuration;
  /** Copies every event to sub-pipelines (one per value) and passes it on once all of them have ended. */
  forkJoin(values?: any | any[] | (() => any | any[])): Configuration;
  /** Copies every event to sub-pipelines (one per value) and outputs what the first of them to answer outputs. */
  forkRace(values?: any | any[] | (() => any | any[])): Configuration;
  /** Runs the first pipeline whose condition holds, chosen at the stream's first event. */
  branch(...conditionsAndPipelines: (boolean | ((...args: any[]) => boolean) | SubPipeline)[]): Configuration;
  /** Runs the first pipeline whose condition holds for the first MessageStart. */
  branchMessageStart(...conditionsAndPipelines: (boolean | ((head: MessageStart) => boolean) | SubPipeline)[]): Configuration;
  /** Runs the first pipeline whose condition holds for the first whole message. */
  branchMessage(...conditionsAndPipelines: (boolean | ((message: Message) => boolean) | SubPipeline)[]): Configuration;
  /** Swallows every event but StreamEnd. */
  dummy(): Configuration;
  /** Logs every event, with its head and bytes, and passes it on. */
  dump(tag?: string): Configuration;
  /** Logs the text of every Data event and passes every event on. */
  print(): Configuration;
  /** Calls a function with every event and passes it on. */
  handle(callback: (event: Event) => any): Configuration;
  /** Calls a function with the stream's first event and passes every event on. */
  handleStreamStart(callback: (event: Event) => any): Configuration;
  /** Calls a function with each MessageStart and passes every event on. */
  handleMessageStart(callback: (head: MessageStart) => any): Configuration;
  /** Calls a function with each Data event and passes every event on. */
  handleData(callback: (data: Data) => any): Configuration;
  /** Calls a function with each MessageEnd and passes every event on. */
  handleMessageEnd(callback: (end: MessageEnd) => any): Configuration;
  /** Calls a function with the StreamEnd and passes every event on. */
  handleStreamEnd(callback: (end: StreamEnd) => any): Configuration;
  /** Calls a function with each whole message while its events stream on. */
  handleMessage(callback: (message: Message) => any, options?: HandleMessageOptions): Configuration;
  /** Calls a function with each message's whole body while its events stream on. */
  handleMessageBody(callback: (body: Data) => any, options?: HandleMessageBodyOptions): Configuration;
  /** Replaces every event with what a value or a function gives. */
  replace(replacement?: Events | ((event: Event) => Events)): Configuration;
  /** Replaces the stream's first event. */
  replaceStreamStart(replacement?: Events | ((event: Event) => Events)): Configuration;
  /** Replaces each MessageStart. */
  replaceMessageStart(replacement?: Events | ((head: MessageStart) => Events)): Configuration;
  /** Replaces each Data event. */
  replaceData(replacement?: Events | ((data: Data) => Events)): Configuration;
  /** Replaces each MessageEnd. */
  replaceMessageEnd(replacement?: Events | ((end: MessageEnd) => Events)): Configuration;
  /** Replaces the StreamEnd. */
  replaceStreamEnd(replacement?: Events | ((end: StreamEnd) => Events)): Configuration;
  /** Replaces each whole message. */
  replaceMessage(replacement?: Events | ((message: Message) => Events), options?: ReplaceMessageOptions): Configuration;
  /** Replaces each message's body, keeping its head and tail. */
  replaceMessageBody(replacement?: Data | string | ((body: Data) => Data | string), options?: ReplaceMessageBodyOptions): Configuration;
  /** Opens a TCP connection to the target and exchanges the stream's Data with it. */
  connect(target: string | (() => string), options?: ConnectOptions): Configuration;
  /** Passes the stream on and writes its Data to standard output ('-'). */
  tee(target: '-'): Configuration;
  /** Terminates TLS: the sub-pipeline after it sees the client's plaintext, and its output is encrypted back. */
  acceptTLS(options: AcceptTLSOptions): Configuration;
  /** Originates TLS: plaintext in is encrypted into the sub-pipeline after it, and what that outputs is decrypted. */
  connectTLS(options?: ConnectTLSOptions): Configuration;
  /** Calls back with the server names and ALPN protocols of the client's TLS ClientHello; passes every event on. */
  handleTLSClientHello(callback: (hello: { serverNames: string[], protocolNames: string[] }) => void): Configuration;
  /** Calls back with the protocol the stream's first bytes are in (TLS, HTTP, HTTP2 or none); passes every event on. */
  detectProtocol(callback: (protocol: 'TLS' | 'HTTP' | 'HTTP2' | '') => any, options?: DetectProtocolOptions): Configuration;
}

/** Options of `serveHTTP`. */
interface ServeHTTPOptions {
  /** Largest request head; a bigger one is answered 431. Default: 16k. */
  maxHeaderSize?: number | string;
  /** Response bodies up to this get a content-length; longer ones keep the length they declare or go chunked. Default: 16k. */
  bufferSize?: number | string;
  /** Time a client has to send a whole request head; then 408. Default: 60s. */
  headerTimeout?: number | string;
  /** Time a request body may go without a byte arriving; then 408. Default: 60s. */
  bodyTimeout?: number | string;
  /** Requests read and not yet answered before reading from the client pauses. Default: 32. */
  maxPipelined?: number;
  /** Answers an HTTP/1.1 request without Host with 400. Default: false. */
  requireHost?: boolean;
  /** Requests a connection carries before it closes. Not supported yet: giving it is a load error. */
  maxMessages?: number;
  /** HTTP/2: streams a client may have open at once. Default: 128. */
  maxConcurrentStreams?: number;
  /** HTTP/2: each stream's receive window, how much of a request body a client may send ahead. Default: 256k. */
  streamWindowSize?: number | string;
  /** HTTP/2: the same as streamWindowSize, by its SETTINGS name. Default: as streamWindowSize. */
  initialWindowSize?: number | string;
  /** HTTP/2: the connection's receive window, shared by its streams. Default: 1m. */
  connectionWindowSize?: number | string;
  /** HTTP/2: the largest frame payload a client may send (16k to 16M). Default: 16k. */
  maxFrameSize?: number | string;
  /** HTTP/2: the largest decoded header list; past it the stream is refused. Default: as maxHeaderSize. */
  maxHeaderListSize?: number | string;
  /** Largest request body a request may have (a function handler gets it whole); a bigger one is answered 413. Default: 16m. */
  maxBodySize?: number | string;
}

/** Options of `demuxHTTP`. */
interface DemuxHTTPOptions {
  /** Largest request head; a bigger one is answered 431. Default: 16k. */
  maxHeaderSize?: number | string;
  /** Response bodies up to this get a content-length; longer ones keep the length they declare or go chunked. Default: 16k. */
  bufferSize?: number | string;
  /** Time a client has to send a whole request head; then 408. Default: 60s. */
  headerTimeout?: number | string;
  /** Time a request body may go without a byte arriving; then 408. Default: 60s. */
  bodyTimeout?: number | string;
  /** Requests read and not yet answered before reading from the client pauses. Default: 32. */
  maxPipelined?: number;
  /** Answers an HTTP/1.1 request without Host with 400. Default: false. */
  requireHost?: boolean;
  /** Requests a connection carries before it closes. Not supported yet: giving it is a load error. */
  maxMessages?: number;
  /** HTTP/2: streams a client may have open at once. Default: 128. */
  maxConcurrentStreams?: number;
  /** HTTP/2: each stream's receive window, how much of a request body a client may send ahead. Default: 256k. */
  streamWindowSize?: number | string;
  /** HTTP/2: the same as streamWindowSize, by its SETTINGS name. Default: as streamWindowSize. */
  initialWindowSize?: number | string;
  /** HTTP/2: the connection's receive window, shared by its streams. Default: 1m. */
  connectionWindowSize?: number | string;
  /** HTTP/2: the largest frame payload a client may send (16k to 16M). Default: 16k. */
  maxFrameSize?: number | string;
  /** HTTP/2: the largest decoded header list; past it the stream is refused. Default: as maxHeaderSize. */
  maxHeaderListSize?: number | string;
}

/** Options of `muxHTTP`. */
interface MuxHTTPOptions {
  /** How long a session no stream uses stays open. Default: 10s. */
  maxIdle?: number | string;
  /** Streams sharing one session; 0 is no limit. Default: 0. */
  maxQueue?: number;
  /** Requests a session carries before it takes no more; 0 is no limit. Default: 0. */
  maxMessages?: number;
  /** Request bodies up to this get a content-length; longer ones keep the length they declare or go chunked. Default: 16k. */
  bufferSize?: number | string;
  /** Largest response head; a bigger one fails the session. Default: 16k. */
  maxHeaderSize?: number | string;
  /** A session awaiting an answer that sees no byte either way for this long closes; its streams end with ReadTimeout. Default: 60s. */
  responseTimeout?: number | string;
  /** The HTTP version spoken upstream: 1 (or 'http/1.1'), 2 (or 'h2'), or a function called as each session opens that returns one, or a Promise of one. Default: 1. */
  version?: number | string | ((...args: any[]) => any);
  /** HTTP/2 keep-alive pings. Accepted without effect: h2 answers the server's pings; pings of its own are not sent yet. */
  ping?: ((...args: any[]) => any);
  /** HTTP/2: the connection's receive window. Default: 1m. */
  connectionWindowSize?: number | string;
  /** HTTP/2: each stream's receive window. Default: 256k. */
  streamWindowSize?: number | string;
  /** HTTP/2: the same as streamWindowSize (nginx and h2 call it so). Default: 0. */
  initialWindowSize?: number | string;
  /** HTTP/2: the largest frame payload the server may send. Default: 16k. */
  maxFrameSize?: number | string;
}

/** Options of `connectHTTPTunnel`. */
interface ConnectHTTPTunnelOptions {
  /** Called with 'connecting', 'connected' or 'closed' as the tunnel's state changes. Default: none. */
  onState?: ((...args: any[]) => any);
}

/** Options of `compressHTTP`. */
interface CompressHTTPOptions {
  /** 'gzip' or 'deflate'. Default: 'gzip'. */
  method?: 'gzip' | 'deflate';
  /** Compression level, 0 (none) to 9 (smallest); 6 is zlib's default. Default: 6. */
  level?: number;
}

/** Options of `decompressHTTP`. */
interface DecompressHTTPOptions {
  /** Largest body inflated; past it the stream ends with BufferOverflow (a compression bomb). Default: 64m. */
  maxSize?: number | string;
}

/** Options of `decompress`. */
interface DecompressOptions {
  /** Largest stream inflated; past it the stream ends with BufferOverflow (a compression bomb). Default: 64m. */
  maxSize?: number | string;
}

/** Options of `decodeHTTPRequest`. */
interface DecodeHTTPRequestOptions {
  /** Largest message head; a bigger one ends the stream with ProtocolError. Default: 16k. */
  maxHeaderSize?: number | string;
  /** Accepted as Pipy has it. Accepted without effect: bodies stream as they arrive here. */
  bufferSize?: number | string;
}

/** Options of `decodeHTTPResponse`. */
interface DecodeHTTPResponseOptions {
  /** Largest message head; a bigger one ends the stream with ProtocolError. Default: 16k. */
  maxHeaderSize?: number | string;
  /** Accepted as Pipy has it. Accepted without effect: bodies stream as they arrive here. */
  bufferSize?: number | string;
}

/** Options of `encodeHTTPRequest`. */
interface EncodeHTTPRequestOptions {
  /** Bodies up to this get a content-length; longer ones keep the length they declare or go chunked. Default: 16k. */
  bufferSize?: number | string;
}

/** Options of `encodeHTTPResponse`. */
interface EncodeHTTPResponseOptions {
  /** Bodies up to this get a content-length; longer ones keep the length they declare or go chunked. Default: 16k. */
  bufferSize?: number | string;
}

/** Options of `decodeWebSocket`. */
interface DecodeWebSocketOptions {
  /** Frames must be masked, as a server must ask of its clients; an unmasked one is a protocol error. Default: false. */
  requireMask?: boolean;
  /** A message whose payload grows past this ends the stream (close code 1009). Default: 64m. */
  maxMessageSize?: number | string;
}

/** Options of `decodeRESP`. */
interface DecodeRESPOptions {
  /** A value larger than this (its bytes, and what each element costs to hold) ends the stream. Default: 32m. */
  maxMessageSize?: number | string;
}

/** Options of `decodeMQTT`. */
interface DecodeMQTTOptions {
  /** The protocol level (4: MQTT 3.1.1, 5: MQTT 5.0) of a stream that has no CONNECT (a broker's answers), or a function returning it, called at the first packet. Default: 5, reading a packet without properties as having none. */
  protocolLevel?: number | ((...args: any[]) => any);
  /** A packet larger than this ends the stream. Default: 16m. */
  maxPacketSize?: number | string;
}

/** Options of `decodeDubbo`. */
interface DecodeDubboOptions {
  /** A frame declaring a larger body ends the stream. Default: 16m. */
  maxMessageSize?: number | string;
}

/** Options of `decodeThrift`. */
interface DecodeThriftOptions {
  /** A message larger than this (its bytes, and what each value costs to hold) ends the stream. Default: 16m. */
  maxMessageSize?: number | string;
}

/** Options of `wait`. */
interface WaitOptions {
  /** How long to hold the events; then they go on as if the condition held. Default: no limit. */
  timeout?: number | string;
}

/** Options of `handleMessage`. */
interface HandleMessageOptions {
  /** Largest body copied for the callback; past it the callback gets the body cut short. Default: 16m. */
  bufferLimit?: number | string;
}

/** Options of `handleMessageBody`. */
interface HandleMessageBodyOptions {
  /** Largest body copied for the callback; past it the callback gets the body cut short. Default: 16m. */
  bufferLimit?: number | string;
}

/** Options of `replaceMessage`. */
interface ReplaceMessageOptions {
  /** Largest message buffered; a bigger one ends the stream with BufferOverflow. Default: 16m. */
  bufferLimit?: number | string;
}

/** Options of `replaceMessageBody`. */
interface ReplaceMessageBodyOptions {
  /** Largest message buffered; a bigger one ends the stream with BufferOverflow. Default: 16m. */
  bufferLimit?: number | string;
}

/** Options of `connect`. */
interface ConnectOptions {
  /** How long a connection attempt may take; then ConnectionTimeout. Default: no limit. */
  connectTimeout?: number | string;
  /** Closes the connection when nothing arrives for this long (ReadTimeout). Default: no limit. */
  readTimeout?: number | string;
  /** Closes the connection when a write makes no progress for this long (WriteTimeout). Default: no limit. */
  writeTimeout?: number | string;
  /** Closes the connection when nothing moves either way for this long. Default: 60s. */
  idleTimeout?: number | string;
  /** Further attempts after a failed connect; -1 retries for ever. Default: 0. */
  retryCount?: number;
  /** Pause between attempts. Default: 0s. */
  retryDelay?: number | string;
  /** Bytes waiting to be written to the peer; more is dropped with an error in the log. Default: no limit. */
  bufferLimit?: number | string;
  /** The transport: 'tcp', or 'udp' (a datagram per Data event each way). Default: 'tcp'. */
  protocol?: 'tcp' | 'udp';
  /** Queued bytes past which the writer pushes back. Accepted without effect: backpressure here follows the socket's own writability. */
  congestionLimit?: number | string;
  /** TCP keep-alive probes. Accepted without effect: keep-alive probes are not sent; idleTimeout closes a dead connection. */
  keepAlive?: boolean;
  /** TCP_NODELAY. Accepted without effect: it is always on. */
  noDelay?: boolean;
  /** The local address to connect from. Not supported yet: giving it is a load error. */
  bind?: string;
  /** Called as the connection changes state. Not supported yet: giving it is a load error. */
  onState?: ((...args: any[]) => any);
  /** Netlink family, with protocol 'netlink'. Not supported yet: giving it is a load error. */
  netlinkFamily?: number;
}

/** Options of `acceptTLS`. */
interface AcceptTLSOptions {
  /** { cert, key }: a crypto.Certificate or crypto.CertificateChain and its crypto.PrivateKey; or a function of the server name returning one (at once, not a Promise). Default: none. */
  certificate?: object | ((...args: any[]) => any);
  /** crypto.Certificate objects a peer's certificate must chain to. Default: acceptTLS: clients need no certificate; connectTLS: unchecked, unless verify is given (then the Mozilla roots). */
  trusted?: any[];
  /** (ok, cert) => boolean: called with the result of checking the peer's certificate; a truthy answer lets the handshake finish. Default: none. */
  verify?: ((...args: any[]) => any);
  /** Another name of verify. Default: none. */
  onVerify?: ((...args: any[]) => any);
  /** Called with { alpn, version, peer } (and serverName on acceptTLS) once the handshake is done. Default: none. */
  handshake?: ((...args: any[]) => any);
  /** Called with the session ({ state, error, protocol, hostname, peer }) when its state changes. Default: none. */
  onState?: ((...args: any[]) => any);
  /** The oldest TLS version allowed ('TLS1' and 'TLS1.1' mean TLS 1.2 here). Default: 'TLS1.2'. */
  minVersion?: 'TLS1' | 'TLS1.1' | 'TLS1.2' | 'TLS1.3';
  /** The newest TLS version allowed. Default: 'TLS1.3'. */
  maxVersion?: 'TLS1.2' | 'TLS1.3';
  /** A handshake not done within this long ends the stream with ReadTimeout. Default: 10s. */
  handshakeTimeout?: number | string;
  /** An OpenSSL cipher list. Not supported yet: giving it is a load error. */
  ciphers?: string;
  /** Chinese national TLS (TLCP). Not supported yet: giving it is a load error. */
  ntls?: boolean;
  /** Protocols to accept, in the client's order of preference; or names => index of the one to take. Default: no protocol negotiation. */
  alpn?: any[] | ((...args: any[]) => any);
  /** Diffie-Hellman parameters. Accepted without effect: only ECDHE key exchange is offered. */
  dhparam?: string;
}

/** Options of `connectTLS`. */
interface ConnectTLSOptions {
  /** { cert, key }: a crypto.Certificate or crypto.CertificateChain and its crypto.PrivateKey; or a function of the server name returning one (at once, not a Promise). Default: none. */
  certificate?: object | ((...args: any[]) => any);
  /** crypto.Certificate objects a peer's certificate must chain to. Default: acceptTLS: clients need no certificate; connectTLS: unchecked, unless verify is given (then the Mozilla roots). */
  trusted?: any[];
  /** (ok, cert) => boolean: called with the result of checking the peer's certificate; a truthy answer lets the handshake finish. Default: none. */
  verify?: ((...args: any[]) => any);
  /** Another name of verify. Default: none. */
  onVerify?: ((...args: any[]) => any);
  /** Called with { alpn, version, peer } (and serverName on acceptTLS) once the handshake is done. Default: none. */
  handshake?: ((...args: any[]) => any);
  /** Called with the session ({ state, error, protocol, hostname, peer }) when its state changes. Default: none. */
  onState?: ((...args: any[]) => any);
  /** The oldest TLS version allowed ('TLS1' and 'TLS1.1' mean TLS 1.2 here). Default: 'TLS1.2'. */
  minVersion?: 'TLS1' | 'TLS1.1' | 'TLS1.2' | 'TLS1.3';
  /** The newest TLS version allowed. Default: 'TLS1.3'. */
  maxVersion?: 'TLS1.2' | 'TLS1.3';
  /** A handshake not done within this long ends the stream with ReadTimeout. Default: 10s. */
  handshakeTimeout?: number | string;
  /** An OpenSSL cipher list. Not supported yet: giving it is a load error. */
  ciphers?: string;
  /** Chinese national TLS (TLCP). Not supported yet: giving it is a load error. */
  ntls?: boolean;
  /** The server name to ask for and check the certificate against; or a function returning it. Default: none: no name is sent and only the certificate's chain is checked. */
  sni?: string | ((...args: any[]) => any);
  /** The protocols to offer, most wanted first. Default: no protocol negotiation. */
  alpn?: string | any[];
}

/** Options of `detectProtocol`. */
interface DetectProtocolOptions {
  /** Decides '' when the stream has said too little by then. Default: no limit. */
  timeout?: number | string;
}

/** Options of `listen`. */
interface ListenOptions {
  /** Connections served at once; further clients wait to be accepted. UDP: peers served at once; datagrams from further peers are dropped. Default: no limit for TCP; 65536 peers for UDP. */
  maxConnections?: number;
  /** Closes a connection when nothing arrives for this long. Default: no limit. */
  readTimeout?: number | string;
  /** Closes a connection when a write makes no progress for this long. Default: no limit. */
  writeTimeout?: number | string;
  /** Closes a connection when nothing moves either way for this long. Default: 60s. */
  idleTimeout?: number | string;
  /** Reading from the client stops while this many bytes wait to be written to it. Default: 1m. */
  bufferLimit?: number | string;
  /** The transport: 'tcp', or 'udp' (a pipeline per peer address, a Data event per datagram). Default: 'tcp'. */
  protocol?: 'tcp' | 'udp';
  /** UDP: longer datagrams are dropped, and counted in the log. Default: 16k. */
  maxDatagramSize?: number | string;
  /** Queued bytes past which the writer pushes back. Accepted without effect: bufferLimit is the bound here. */
  congestionLimit?: number | string;
  /** TCP keep-alive probes. Accepted without effect: keep-alive probes are not sent; idleTimeout closes a dead connection. */
  keepAlive?: boolean;
  /** TCP_NODELAY. Accepted without effect: it is always on. */
  noDelay?: boolean;
  /** Per-peer statistics. Accepted without effect: no per-peer statistics are kept. */
  peerStats?: boolean;
  /** Connections on the port at once, across workers. Not supported yet: giving it is a load error. */
  maxPortConnections?: number;
  /** Accepts connections to any address (IP_TRANSPARENT). Not supported yet: giving it is a load error. */
  transparent?: boolean;
  /** Connects upstream from the client's address. Not supported yet: giving it is a load error. */
  masquerade?: boolean;
}

// ---- end of the generated part ----
