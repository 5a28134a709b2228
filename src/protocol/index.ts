/** The plugin protocol: runner side (external Walker), message types and schemas, server helper. */
export { startExternalWalker, ExternalWalker, ProtocolError, profileFromStart, type ExternalWalkRecord, type ExternalWalkerOptions } from './external-walker';
export { PROTOCOL_VERSION, validateMessage, type StartResponse, type WalkRequest, type WalkResponse } from './messages';
export { serve, type Harness, type WalkAnswer } from './serve';
