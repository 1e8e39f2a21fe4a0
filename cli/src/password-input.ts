import { CliError } from './errors.js';

/** The first line of what is piped in. */
async function firstLineOf(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk as Buffer));
  return Buffer.concat(chunks).toString('utf8').split(/\r?\n/)[0] ?? '';
}

/** Reads a line typed at the terminal without echoing it; Ctrl-C aborts. */
function typedSecret(prompt: string): Promise<string> {
  const stdin = process.stdin;
  process.stderr.write(prompt);
  stdin.setRawMode(true);
  stdin.setEncoding('utf8');
  stdin.resume();
  return new Promise((resolve, reject) => {
    let typed = '';
    const done = (err?: Error) => {
      stdin.off('data', onData);
      stdin.setRawMode(false);
      stdin.pause();
      process.stderr.write('\n');
      if (err) reject(err);
      else resolve(typed);
    };
    const onData = (keys: string) => {
      for (const key of keys) {
        if (key === '\r' || key === '\n') return done();
        if (key === '\u0003' || key === '\u0004') return done(new CliError('no password entered'));
        if (key === '\u007f' || key === '\b') typed = typed.slice(0, -1);
        else if (key >= ' ') typed += key;
      }
    };
    stdin.on('data', onData);
  });
}

/**
 * `--password-file -`: the password from standard input, so it never has to sit in a file. Typed
 * at a terminal it is not echoed; piped in (a script, a secret manager) its first line is used.
 */
export function readPasswordFromStdin(prompt: string): Promise<string> {
  return process.stdin.isTTY ? typedSecret(prompt) : firstLineOf(process.stdin);
}
