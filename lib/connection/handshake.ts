/**
 * The authentication handshake run over an {@link Endpoint}: Python's `deliver_challenge`
 * and `answer_challenge`, without blocking, and bounded in time.
 *
 * A listener delivers a challenge and then answers one; a client answers and then delivers.
 * Handshake messages over 256 bytes, malformed ones and wrong digests are an
 * {@link AuthenticationError}; after a failure the connection is closed (the deliverer
 * first sends `#FAILURE#`, so the peer learns why).
 *
 * @module
 */

import { Buffer } from 'node:buffer';
import type { Engine } from '../index.js';
import { CHALLENGE, create_response, FAILURE, make_challenge, MAX_AUTH_MESSAGE, verify_response, WELCOME, type DigestName } from './auth.js';
import type { Endpoint } from './endpoint.js';
import { AuthenticationError, HandshakeTimeoutError, ProtocolError } from './errors.js';

/** How long a failed handshake's socket may wait for the peer to close before it is dropped. */
const LINGER_MS = 2000;

/** Which side of the connection runs the handshake. */
export type Role = 'listener' | 'client';

async function recv_auth(ep: Endpoint): Promise<Buffer> {
  try {
    return await ep.recv(MAX_AUTH_MESSAGE);
  } catch (err) {
    if (err instanceof ProtocolError && err.limit === MAX_AUTH_MESSAGE) {
      throw new AuthenticationError(`handshake message of ${err.length} bytes is over ${MAX_AUTH_MESSAGE}`, { cause: err });
    }
    throw err;
  }
}

/** Sends a challenge and checks the reply; answers `#WELCOME#` or `#FAILURE#`. */
async function deliver_challenge(ep: Endpoint, key: Buffer, digest: DigestName): Promise<void> {
  const message = make_challenge(digest);
  void ep.send(Buffer.concat([CHALLENGE, message]));
  const response = await recv_auth(ep);
  try {
    verify_response(key, message, response);
  } catch (err) {
    void ep.send(FAILURE);
    throw err;
  }
  void ep.send(WELCOME);
}

/** Answers the peer's challenge and waits for its verdict. */
async function answer_challenge(ep: Endpoint, key: Buffer): Promise<void> {
  const message = await recv_auth(ep);
  if (!message.subarray(0, CHALLENGE.length).equals(CHALLENGE)) throw new AuthenticationError('protocol error: expected a challenge');
  void ep.send(create_response(key, message.subarray(CHALLENGE.length)));
  const verdict = await recv_auth(ep);
  if (!verdict.equals(WELCOME)) throw new AuthenticationError('digest sent was rejected');
}

/**
 * Runs the whole handshake for `role` within `timeout` ms. On failure the endpoint is
 * closed (gracefully, so a `#FAILURE#` still goes out) and the error is thrown.
 */
export async function handshake(ep: Endpoint, engine: Engine, role: Role, key: Buffer, timeout: number, digest: DigestName): Promise<void> {
  let timer: { cancel(): void } | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = engine.defer(timeout, () => {
      const err = new HandshakeTimeoutError(timeout);
      ep.fail(err, false);
      reject(err);
    });
  });
  expired.catch(() => {}); // settled by the race below, or never observed once the handshake wins
  const steps = async (): Promise<void> => {
    if (role === 'listener') {
      await deliver_challenge(ep, key, digest);
      await answer_challenge(ep, key);
    } else {
      await answer_challenge(ep, key);
      await deliver_challenge(ep, key, digest);
    }
  };
  try {
    await Promise.race([steps(), expired]);
  } catch (err) {
    // Graceful, so that a #FAILURE# still goes out; but a peer that never closes its side
    // must not hold the socket open for ever.
    ep.fail(err instanceof Error ? err : new AuthenticationError(String(err)), true);
    setTimeout(() => ep.stream.close(false), LINGER_MS).unref();
    throw err;
  } finally {
    timer?.cancel();
  }
}
