// The shape of a request handler: a member's session and a validated payload in, the reply out (or a SignalingError thrown).
import type { ReplyOf, RequestOf, RequestType } from '../../protocol/messages.ts';
import type { Session } from './room-service.ts';

type Handler<T extends RequestType> = (session: Session, payload: RequestOf<T>) => Promise<ReplyOf<T>> | ReplyOf<T>;

export type Handlers = { [T in RequestType]: Handler<T> };
