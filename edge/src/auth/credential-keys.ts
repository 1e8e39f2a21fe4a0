/** Live-connection key of a stream opened with a Postern token (sessions use their hash). */
export const TOKEN_CREDENTIAL = 'token:';
