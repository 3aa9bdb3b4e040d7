/**
 * TLS plumbing for streams: making client and server TLS sockets, the bridge that lets a
 * STARTTLS upgrade hand already-received bytes to TLS, and the peer details a stream reports.
 *
 * Defaults are Node's safe ones: a client verifies the server's certificate and host name
 * unless `rejectUnauthorized: false` is given explicitly.
 *
 * @module
 */

import { createRequire } from 'node:module';
import * as net from 'node:net';
import { Duplex } from 'node:stream';
import type * as tls from 'node:tls';

const require_builtin = createRequire(import.meta.url);
let tls_module: typeof tls | undefined;

/**
 * @internal `node:tls`, loaded on first use: a plaintext program never loads TLS (about
 * 2 MB of resident memory).
 */
export function node_tls(): typeof tls {
  return (tls_module ??= require_builtin('node:tls') as typeof tls);
}

/**
 * TLS options: Node's own (`key`, `cert`, `ca`, `servername`, `rejectUnauthorized`,
 * `ALPNProtocols`, `requestCert`, ...). For `start_tls`, `isServer` overrides the role the
 * channel implies.
 */
export type TlsOptions = tls.ConnectionOptions &
  tls.TlsOptions & {
    /** For `start_tls`: act as the TLS server (`true`) or client (`false`). */
    isServer?: boolean;
  };

/** What a TLS stream reports about its session (`stream.tls_info`). */
export interface TlsInfo {
  /** Negotiated protocol version, e.g. `'TLSv1.3'`. */
  protocol: string | null;
  /** Negotiated cipher. */
  cipher: tls.CipherNameAndProtocol;
  /** Negotiated ALPN protocol; `false` when none was agreed. */
  alpn_protocol: string | false | null;
  /** The peer's certificate, or null when it sent none. */
  peer_certificate: tls.PeerCertificate | null;
  /** Whether the peer's certificate was verified against the trusted CAs. */
  authorized: boolean;
  /** Why verification failed, when it did. */
  authorization_error: string | null;
}

/** @internal Reads a TLS socket's session details. */
export function tls_info(socket: tls.TLSSocket): TlsInfo {
  const cert = socket.getPeerCertificate();
  const err = socket.authorizationError as unknown;
  return {
    protocol: socket.getProtocol(),
    cipher: socket.getCipher(),
    alpn_protocol: socket.alpnProtocol ?? null,
    peer_certificate: cert && Object.keys(cert).length > 0 ? cert : null,
    authorized: socket.authorized,
    authorization_error: err === undefined || err === null ? null : String((err as { code?: string }).code ?? err),
  };
}

/** @internal A client TLS socket connecting from the start. */
export function tls_connect(options: TlsOptions, target: { host: string; port: number } | { path: string }): tls.TLSSocket {
  const { isServer: _ignored, ...rest } = options;
  if ('path' in target) return node_tls().connect({ ...rest, path: target.path });
  const servername = rest.servername ?? (net.isIP(target.host) ? undefined : target.host);
  return node_tls().connect({ ...rest, host: target.host, port: target.port, ...(servername ? { servername } : {}) });
}

/** @internal Wraps an accepted socket (or a bridge) as the TLS server side. */
export function tls_server(socket: Duplex, options: TlsOptions, context?: tls.SecureContext): tls.TLSSocket {
  const { isServer: _ignored, ...rest } = options;
  const secureContext = context ?? node_tls().createSecureContext(rest);
  return new (node_tls().TLSSocket)(socket, {
    isServer: true,
    secureContext,
    requestCert: rest.requestCert === true,
    rejectUnauthorized: rest.rejectUnauthorized !== false,
    ...(rest.ALPNProtocols ? { ALPNProtocols: rest.ALPNProtocols } : {}),
    ...(rest.SNICallback ? { SNICallback: rest.SNICallback } : {}),
  });
}

/** @internal Wraps a connected socket (or a bridge) as the TLS client side, verification on. */
export function tls_client_over(socket: Duplex, options: TlsOptions, host: string | undefined): tls.TLSSocket {
  const { isServer: _ignored, ...rest } = options;
  const servername = rest.servername ?? (host !== undefined && !net.isIP(host) ? host : undefined);
  return node_tls().connect({ ...rest, socket, ...(host !== undefined ? { host } : {}), ...(servername ? { servername } : {}) });
}

/**
 * @internal The bytes path of a STARTTLS upgrade: a Duplex over the plaintext socket that first
 * yields the bytes the stream had already received (the peer's first TLS record may sit right
 * behind its STARTTLS line), then whatever the socket reads. Writes go straight to the socket,
 * behind the plaintext writes made before the upgrade.
 */
export class Bridge extends Duplex {
  private readonly raw: net.Socket;

  constructor(raw: net.Socket, leftover: Buffer | null) {
    super({ allowHalfOpen: true });
    this.raw = raw;
    if (leftover !== null && leftover.length > 0) this.push(leftover);
    raw.on('data', (chunk: Buffer) => {
      if (!this.push(chunk)) raw.pause();
    });
    raw.on('end', () => this.push(null));
    raw.on('error', (err: Error) => this.destroy(err));
    raw.on('close', () => this.destroy());
  }

  override _read(): void {
    this.raw.resume();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (err?: Error | null) => void): void {
    this.raw.write(chunk, callback);
  }

  override _final(callback: (err?: Error | null) => void): void {
    this.raw.end();
    callback();
  }

  override _destroy(err: Error | null, callback: (err?: Error | null) => void): void {
    this.raw.destroy();
    callback(err);
  }
}
