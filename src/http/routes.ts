// Every route is declared through defineRoute(): method, path, access policy, schemas and a
// handler. There is no other way to add a route, so none can exist without a policy.
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { z } from 'zod';
import type { Principal, RoutePolicy } from '../access/policy.ts';

export type Method = 'GET' | 'POST' | 'PATCH' | 'DELETE' | 'HEAD' | 'OPTIONS';

export interface RouteContext<P, Q, B> {
  req: FastifyRequest;
  reply: FastifyReply;
  principal: Principal;
  params: P;
  query: Q;
  body: B;
  requestId: string;
  source: string;
}

export interface RouteDef<P = unknown, Q = unknown, B = unknown> {
  method: Method;
  url: string;
  policy: RoutePolicy;
  summary: string;
  tag: string;
  params?: z.ZodType<P>;
  query?: z.ZodType<Q>;
  body?: z.ZodType<B>;
  /** The body is a raw byte stream read by the handler (tus PATCH). */
  rawBody?: { contentType: string };
  /** Headers sent with every response of this route, errors included (e.g. Tus-Resumable). */
  headers?: Record<string, string>;
  /** Documented responses (status -> description). */
  responses: Record<number, string>;
  handler(ctx: RouteContext<P, Q, B>): Promise<unknown>;
}

export function defineRoute<P = unknown, Q = unknown, B = unknown>(def: RouteDef<P, Q, B>): RouteDef {
  return def as unknown as RouteDef;
}
