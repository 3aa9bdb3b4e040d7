/**
 * The behavioural suite of Stream/Client/Server/Connection, run once per transport:
 * TCP over IPv4, TCP over IPv6 (skipped only where ::1 is missing) and Unix sockets.
 */

import * as fs from 'node:fs';
import * as path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { BufferOverflowError, CallbackError, ChannelClosedError, Connection, FileError, Struct, type InetAddress } from '../lib/index.js';
import { Recorder, start_server, strings } from './_channels.js';
import { countdown, deferred, has_ipv6, raw_connect, read_all, temp_dir, TCP4, TCP6, UNIX, within, type Transport } from './_helpers.js';

class Echo extends Connection {
  override on_read(data: Buffer): void {
    this.write(data);
  }
}

/** Replies to each "\r\n" line with "<line>!\r\n". */
class LineBang extends Connection {
  override on_connect(): void {
    this.read_delimiter = '\r\n';
  }
  override on_read(line: Buffer): void {
    this.write(Buffer.concat([line, Buffer.from('!\r\n')]));
  }
}

/** A predicate for assert.throws: the error is an instance of `cls`. */
function is(cls: new (...a: never[]) => Error): (e: unknown) => boolean {
  return (e: unknown) => e instanceof cls;
}

const files_dir = temp_dir('trousers-files-');
const digits = path.join(files_dir, 'digits.txt');
fs.writeFileSync(digits, '0123456789');

function behaviour(transport: Transport, available: boolean): void {
  const t = suite(`stream over ${transport.name}`);
  const maybe = available ? t : t.skip;

  maybe('callbacks run in order: on_listen, on_accept, on_connect, then reads', async () => {
    const order: string[] = [];
    const accepted = deferred();
    class Conn extends Connection {
      override on_connect(): void {
        order.push('conn.on_connect');
        accepted.resolve();
      }
    }
    const s = await start_server(transport, Conn);
    order.push('on_listen');
    const accept = s.server.on_accept.bind(s.server);
    s.server.on_accept = (socket) => {
      order.push('on_accept');
      accept(socket);
    };
    const c = new Recorder({ engine: s.engine }).connect(s.address);
    await within(Promise.all([accepted.promise, c.connected_p.promise]));
    assert.equal(order, ['on_listen', 'on_accept', 'conn.on_connect']);
    assert.is(s.server.channels.size, 1);
    await s.stop();
    assert.equal(c.events, ['on_connect', 'on_close']);
    assert.is(s.server.channels.size, 0);
  });

  maybe('a string delimiter splits lines however they arrive: a, b, cd', async () => {
    const s = await start_server(transport, LineBang);
    const c = new Recorder({ engine: s.engine });
    c.read_delimiter = '\r\n';
    c.connect(s.address);
    c.write('a\r\nb\r\nc');
    const two = c.expect_frames(2);
    await two;
    c.write('d\r\n');
    assert.equal(strings(await c.expect_frames(3)), ['a!', 'b!', 'cd!']);
    await s.stop();
  });

  for (const when of ['still connecting', 'connected'] as const) {
    maybe(`a Stream drives a socket the user connected (${when}): echo, addresses, close`, async () => {
      const s = await start_server(transport, Echo);
      const raw = raw_connect(s.address);
      try {
        if (when === 'connected') await within(new Promise((resolve) => raw.once('connect', resolve)));
        const c = new Recorder({ engine: s.engine, socket: raw });
        await within(c.connected_p.promise);
        c.read_delimiter = '\n';
        c.write('adopted\n');
        assert.equal(strings(await c.expect_frames(1)), ['adopted']);
        if (transport === UNIX) assert.type(c.remote_address, 'string');
        else assert.is((c.remote_address as InetAddress).port, (s.server.local_address as InetAddress).port);
        c.close();
        await within(c.closed_p.promise);
        assert.equal(c.events, ['on_connect', 'on_read', 'on_close']);
      } finally {
        raw.destroy();
        await s.stop();
      }
    });
  }

  maybe('data written before the connection is up is queued and sent once connected', async () => {
    const s = await start_server(transport, Echo);
    const c = new Recorder({ engine: s.engine });
    c.read_delimiter = 5;
    c.write('hel');
    c.connect(s.address);
    c.write('lo');
    assert.ok(c.connecting);
    assert.equal(strings(await c.expect_frames(1)), ['hello']);
    await s.stop();
  });

  maybe('an integer delimiter gives exactly N bytes: 0123, 4567, and 89 waits', async () => {
    const s = await start_server(transport, Echo);
    const c = new Recorder({ engine: s.engine });
    c.read_delimiter = 4;
    c.connect(s.address);
    c.write('0123456789');
    assert.equal(strings(await c.expect_frames(2)), ['0123', '4567']);
    c.write('ab');
    assert.equal(strings(await c.expect_frames(3)), ['0123', '4567', '89ab']);
    await s.stop();
  });

  maybe('a Struct delimiter calls on_read with the fields; write_packed packs with it', async () => {
    const s = await start_server(transport, Echo);
    const c = new Recorder({ engine: s.engine });
    c.read_delimiter = new Struct('!HI');
    c.connect(s.address);
    c.write_packed(7, 70000);
    c.write_packed(1, 2);
    const frames = await c.expect_frames(2);
    assert.equal(frames, [
      [7, 70000],
      [1, 2],
    ]);
    await s.stop();
  });

  maybe('a RegExp delimiter cuts before matches; match mode gives the match array', async () => {
    const s = await start_server(transport, Echo);
    const c = new Recorder({ engine: s.engine });
    c.read_delimiter = /;+/;
    c.connect(s.address);
    c.write('a;;b;c');
    assert.equal(strings(await c.expect_frames(2)), ['a', 'b']);
    // "c" is held; switching to match mode applies to it: "c=42\n" matches at the start
    // (a match reaching the end of the buffer is held until more bytes come: "next").
    c.regex_search = false;
    c.read_delimiter = /(\w+)=(\d+)\n/;
    c.write('=42\nnext');
    const frames = await c.expect_frames(3);
    const m = frames[2] as RegExpExecArray;
    assert.equal([m[0], m[1], m[2]], ['c=42\n', 'c', '42']);
    await s.stop();
  });

  maybe('changing read_delimiter inside on_read applies to bytes already buffered', async () => {
    const s = await start_server(transport, Echo);
    const got: string[] = [];
    const done = deferred();
    class Switcher extends Recorder {
      override on_read(data: Buffer): void {
        got.push(data.toString());
        if (got.length === 1) this.read_delimiter = Number(data.toString());
        else if (got.length === 2) this.read_delimiter = '\n';
        else done.resolve();
      }
    }
    const c = new Switcher({ engine: s.engine });
    c.read_delimiter = '\n';
    c.connect(s.address);
    c.write('5\nhellotail\n');
    await within(done.promise);
    assert.equal(got, ['5', 'hello', 'tail']);
    await s.stop();
  });

  maybe('replacing this.on_read on the instance takes effect for buffered frames', async () => {
    const s = await start_server(transport, Echo);
    const got: string[] = [];
    const done = deferred();
    const c = new Recorder({ engine: s.engine });
    c.read_delimiter = '\n';
    c.on_read = (line: unknown) => {
      got.push(`first:${String(line)}`);
      c.on_read = (l: unknown) => {
        got.push(`second:${String(l)}`);
        if (got.length === 3) done.resolve();
      };
    };
    c.connect(s.address);
    c.write('a\nb\nc\n');
    await within(done.promise);
    assert.equal(got, ['first:a', 'second:b', 'second:c']);
    await s.stop();
  });

  maybe('after on_read closes the channel no further buffered frame is delivered', async () => {
    const s = await start_server(transport, Echo);
    const got: string[] = [];
    const c = new Recorder({ engine: s.engine });
    c.read_delimiter = '\n';
    c.on_read = (line: unknown) => {
      got.push(String(line));
      c.close();
    };
    c.connect(s.address);
    c.write('a\nb\nc\n');
    await within(c.closed_p.promise);
    assert.equal(got, ['a']);
    await s.stop();
  });

  maybe('encoding delivers strings, multi-byte characters intact across chunks', async () => {
    const s = await start_server(transport, Echo);
    const c = new Recorder({ engine: s.engine });
    c.encoding = 'utf8';
    c.read_delimiter = '|';
    c.connect(s.address);
    c.write(Buffer.from('héllo|wörld|'));
    assert.equal(await c.expect_frames(2), ['héllo', 'wörld']);
    await s.stop();
  });

  maybe('on_read receives buffers the user may keep: unchanged after more data arrives', async () => {
    const s = await start_server(transport, Echo);
    const c = new Recorder({ engine: s.engine });
    c.read_delimiter = '\n';
    c.connect(s.address);
    const lines = Array.from({ length: 200 }, (_, i) => `line-${i}-${'x'.repeat(i % 37)}`);
    c.write(lines.join('\n') + '\n');
    const frames = (await c.expect_frames(200)) as Buffer[];
    assert.equal(strings(frames), lines);
    await s.stop();
  });

  maybe('graceful close sends everything queued, then FIN, then on_close', async () => {
    const big = Buffer.alloc(4 * 1024 * 1024, 7);
    const received = deferred<Buffer>();
    const s = await start_server(transport, Echo);
    const sock = raw_connect(s.address);
    void read_all(sock).then(received.resolve, received.reject);
    // The server side writes 4 MiB and closes at once; the peer must get every byte.
    class Sender extends Connection {
      override on_connect(): void {
        this.write(big);
        this.close();
      }
    }
    s.server.ConnectionClass = Sender as never;
    const got = await within(received.promise);
    assert.is(got.length, big.length);
    assert.ok(got.equals(big));
    sock.end();
    await s.stop();
  });

  maybe('close(false) drops queued output and still fires on_close once', async () => {
    const s = await start_server(transport, Echo);
    const c = new Recorder({ engine: s.engine }).connect(s.address);
    await within(c.connected_p.promise);
    c.write(Buffer.alloc(1024));
    c.close(false);
    c.close(false);
    c.close();
    assert.ok(c.closing);
    await within(c.closed_p.promise);
    assert.ok(c.closed);
    assert.equal(c.events.filter((e) => e === 'on_close').length, 1);
    await s.stop();
  });

  maybe('write after close() throws ChannelClosedError; so do write_file and connect', async () => {
    const s = await start_server(transport, Echo);
    const c = new Recorder({ engine: s.engine }).connect(s.address);
    await within(c.connected_p.promise);
    c.close();
    assert.throws(() => c.write('x'), (e: unknown) => e instanceof ChannelClosedError && e.code === 'ERR_CHANNEL_CLOSED');
    assert.throws(() => c.write_file(digits), is(ChannelClosedError));
    assert.throws(() => c.connect(s.address), is(ChannelClosedError));
    await within(c.closed_p.promise);
    assert.throws(() => c.write('x'), is(ChannelClosedError));
    await s.stop();
  });

  maybe('end of stream: whole frames delivered, rest to on_incomplete, replies still sent', async () => {
    const incomplete = deferred<Buffer>();
    class Upper extends Connection {
      override on_connect(): void {
        this.read_delimiter = '\n';
      }
      override on_read(line: Buffer): void {
        this.write(line.toString().toUpperCase() + '\n');
      }
      override on_incomplete(rest: Buffer): void {
        incomplete.resolve(rest);
        this.write('rest:' + rest.toString() + '\n');
      }
    }
    const s = await start_server(transport, Upper);
    const sock = raw_connect(s.address);
    const all = read_all(sock);
    sock.end('one\ntwo\npartial');
    assert.is((await within(incomplete.promise)).toString(), 'partial');
    assert.is((await within(all)).toString(), 'ONE\nTWO\nrest:partial\n');
    await s.stop();
  });

  maybe('write_file sends a slice in order with writes: <234>; nbytes past the end stops at the end', async () => {
    class Files extends Connection {
      override on_connect(): void {
        this.write('<');
        this.write_file(digits, { offset: 2, nbytes: 3 });
        this.write('>');
        this.write_file(digits, { offset: 8, nbytes: 100 });
        this.write_file(digits);
        this.close();
      }
    }
    const s = await start_server(transport, Files);
    const sock = raw_connect(s.address);
    assert.is((await within(read_all(sock))).toString(), '<234>890123456789');
    await s.stop();
  });

  maybe('write_file of a descriptor leaves it open for the caller; a missing file goes to on_error', async () => {
    const fd = fs.openSync(digits, 'r');
    const errors: Error[] = [];
    const closed = deferred();
    class Files extends Connection {
      override on_connect(): void {
        this.write_file(fd, { offset: 5 });
        this.write_file(path.join(files_dir, 'missing.txt'));
      }
      override on_error(err: Error): void {
        errors.push(err);
      }
      override on_close(): void {
        closed.resolve();
      }
    }
    const s = await start_server(transport, Files);
    const sock = raw_connect(s.address);
    const got = read_all(sock).catch(() => Buffer.alloc(0));
    await within(closed.promise);
    assert.is(errors.length, 1);
    assert.instance(errors[0], FileError);
    assert.is((errors[0] as FileError).syscode, 'ENOENT');
    assert.is(fs.fstatSync(fd).size, 10); // still open
    fs.closeSync(fd);
    assert.is((await got).toString(), '56789');
    await s.stop();
  });

  maybe('on_write fires once everything written has gone to the OS, never without a write', async () => {
    const s = await start_server(transport, Echo);
    let writes = 0;
    const wrote = deferred();
    const c = new Recorder({ engine: s.engine });
    c.on_write = () => {
      writes++;
      wrote.resolve();
    };
    c.connect(s.address);
    await within(c.connected_p.promise);
    assert.is(writes, 0);
    c.write('a');
    c.write('b');
    assert.is(writes, 0, 'not inside write()');
    await within(wrote.promise);
    assert.is(writes, 1);
    await s.stop();
  });

  maybe('addresses: remote and local are {host, port, family} for IP, the path for Unix', async () => {
    const s = await start_server(transport, Echo);
    const c = new Recorder({ engine: s.engine }).connect(s.address);
    await within(c.connected_p.promise);
    if (transport === UNIX) {
      assert.is(c.remote_address, s.address);
      assert.is(s.server.local_address, s.address);
    } else {
      const r = c.remote_address as InetAddress;
      const l = c.local_address as InetAddress;
      const family = transport === TCP6 ? 'IPv6' : 'IPv4';
      assert.is(r.family, family);
      assert.is(l.family, family);
      assert.is(r.port, (s.server.local_address as InetAddress).port);
      assert.ok(l.port > 0);
    }
    await s.stop();
  });

  maybe('a delimiter that never comes overflows at buffer_size, reading paused, typed error', async () => {
    const overflow = deferred<BufferOverflowError>();
    class Hoard extends Connection {
      override on_connect(): void {
        this.read_delimiter = '\n';
        this.buffer_size = 1000;
      }
      override on_overflow_error(err: BufferOverflowError): void {
        overflow.resolve(err);
        this.close(false);
      }
    }
    const s = await start_server(transport, Hoard);
    const sock = raw_connect(s.address);
    sock.on('error', () => {});
    sock.write(Buffer.alloc(5000, 'x'));
    const err = await within(overflow.promise);
    assert.instance(err, BufferOverflowError);
    assert.is(err.code, 'ERR_BUFFER_OVERFLOW');
    assert.is(err.limit, 1000);
    assert.ok(err.buffered > 1000);
    sock.destroy();
    await s.stop();
  });

  maybe('a throwing on_read goes to on_error as CallbackError; other channels keep working', async () => {
    const errors: Error[] = [];
    const errored = deferred();
    class Throws extends Connection {
      override on_connect(): void {
        this.read_delimiter = '\n';
      }
      override on_read(line: Buffer): void {
        if (line.toString() === 'boom') throw new Error('kaboom');
        this.write(line.toString() + '\n');
      }
      override on_error(err: Error): void {
        errors.push(err);
        errored.resolve();
      }
    }
    const s = await start_server(transport, Throws);
    const a = new Recorder({ engine: s.engine });
    a.read_delimiter = '\n';
    a.connect(s.address);
    const b = new Recorder({ engine: s.engine });
    b.read_delimiter = '\n';
    b.connect(s.address);
    a.write('boom\nafter\n');
    await within(errored.promise);
    assert.instance(errors[0], CallbackError);
    assert.is((errors[0] as CallbackError).callback, 'on_read');
    assert.is(((errors[0] as CallbackError).cause as Error).message, 'kaboom');
    // The channel stays consistent and usable: the next frame is still delivered.
    assert.equal(strings(await a.expect_frames(1)), ['after']);
    b.write('fine\n');
    assert.equal(strings(await b.expect_frames(1)), ['fine']);
    await s.stop();
  });

  maybe('pause_reading holds frames back; resume_reading delivers them', async () => {
    const s = await start_server(transport, Echo);
    const c = new Recorder({ engine: s.engine });
    c.read_delimiter = '\n';
    let paused_once = false;
    c.on_read = (line: unknown) => {
      c.frames.push(line);
      if (!paused_once) {
        paused_once = true;
        c.pause_reading();
        assert.ok(c.reading_paused);
        setImmediate(() => {
          assert.is(c.frames.length, 1, 'nothing delivered while paused');
          c.resume_reading();
        });
      }
      if (c.frames.length >= c.want_frames) c.frames_p.resolve(c.frames);
    };
    c.connect(s.address);
    c.write('1\n2\n3\n');
    assert.equal(strings(await c.expect_frames(3)), ['1', '2', '3']);
    await s.stop();
  });

  maybe('the write buffer water marks pause and resume the producer', async () => {
    const s = await start_server(transport, Echo);
    // A peer that does not read: the server's connection is paused at accept.
    const paused = deferred();
    const resumed = deferred();
    let conn: Connection | undefined;
    class Stalled extends Connection {
      override on_connect(): void {
        conn = this;
        this.pause_reading();
      }
    }
    s.server.ConnectionClass = Stalled as never;
    const c = new Recorder({ engine: s.engine });
    c.set_write_buffer_limits(64 * 1024, 16 * 1024);
    c.on_pause_writing = () => paused.resolve();
    c.on_resume_writing = () => resumed.resolve();
    c.connect(s.address);
    await within(c.connected_p.promise);
    let writes = 0;
    while (c.write(Buffer.alloc(64 * 1024)) && writes < 10000) writes++;
    assert.ok(c.write_buffer_size > 64 * 1024);
    await within(paused.promise);
    conn!.resume_reading();
    await within(resumed.promise);
    assert.ok(c.write_buffer_size <= 16 * 1024);
    await s.stop();
  });

  t.run();
}

const v6 = await has_ipv6();
behaviour(TCP4, true);
behaviour(TCP6, v6);
behaviour(UNIX, true);

const connect = suite('connect failures');
connect('a refused connection gives on_connect_error then on_close, never on_connect', async () => {
  const s = await start_server(TCP4, Echo);
  const port = (s.server.local_address as InetAddress).port;
  await s.stop();
  const c = new Recorder().connect(['127.0.0.1', port]);
  await within(c.closed_p.promise);
  assert.equal(c.events, ['on_connect_error', 'on_close']);
  assert.is((c.errors[0] as { syscode?: string }).syscode, 'ECONNREFUSED');
  assert.is((c.errors[0] as { code?: string }).code, 'ERR_CONNECT');
});

connect('a missing Unix socket path gives on_connect_error (ENOENT)', async () => {
  const c = new Recorder().connect(path.join(files_dir, 'nobody.sock'));
  await within(c.closed_p.promise);
  assert.equal(c.events, ['on_connect_error', 'on_close']);
  assert.is((c.errors[0] as { syscode?: string }).syscode, 'ENOENT');
});

connect('an unresolvable host name gives on_connect_error', async () => {
  const c = new Recorder().connect(['no-such-host.invalid', 80]);
  await within(c.closed_p.promise);
  assert.equal(c.events, ['on_connect_error', 'on_close']);
});

connect('bad addresses throw at once: port 70000, {}, NaN, null, empty host', () => {
  const c = new Recorder();
  assert.throws(() => c.connect(70000), is(RangeError));
  assert.throws(() => c.connect(['127.0.0.1', 0]), is(RangeError));
  assert.throws(() => c.connect({} as never), is(TypeError));
  assert.throws(() => c.connect(NaN), is(RangeError));
  assert.throws(() => c.connect(null as never), is(TypeError));
  assert.throws(() => c.connect(['', 80]), is(RangeError));
  assert.throws(() => c.connect(['a', 1, 2] as never), is(TypeError));
  assert.throws(() => c.connect(['127.0.0.1', 80], { timeout: -1 }), is(RangeError));
  assert.not.ok(c.connecting);
});

connect('invalid read_delimiter values throw and keep the old value', () => {
  const c = new Recorder();
  c.read_delimiter = '\n';
  for (const bad of ['', Buffer.alloc(0), 0, -1, 1.5, NaN, {}, true]) {
    assert.throws(() => {
      c.read_delimiter = bad as never;
    });
    assert.is(c.read_delimiter, '\n');
  }
});

connect('close() before connect() fires on_close once on a later tick', async () => {
  const c = new Recorder();
  c.close();
  assert.equal(c.events, []);
  await within(c.closed_p.promise);
  assert.equal(c.events, ['on_close']);
});

connect('every on_close of many clients fires once; counts match', async () => {
  const s = await start_server(TCP4, Echo);
  const n = 50;
  const closed = countdown(n);
  for (let i = 0; i < n; i++) {
    const c = new Recorder({ engine: s.engine });
    c.on_close = () => closed.tick();
    c.on_connect = () => c.close();
    c.connect(s.address);
  }
  await within(closed.done);
  assert.is(closed.count, n);
  await s.stop();
  assert.is(s.engine.channels.size, 0);
});

connect.run();

