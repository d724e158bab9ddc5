// The shapes of the names that decide who reaches a recording: care units (queues) and agent
// ids. Ingest metadata, user scopes and search filters accept exactly the same names.
export const CARE_UNIT = /^[\p{L}\p{N} ._:-]{1,64}$/u;
export const CARE_UNIT_RULE = 'must be 1 to 64 letters, digits, spaces or . _ : -';
export const AGENT_ID = /^[\p{L}\p{N}._:@-]{1,64}$/u;
export const AGENT_ID_RULE = 'must be 1 to 64 letters, digits or . _ : @ -';
