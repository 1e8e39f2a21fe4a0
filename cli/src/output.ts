import chalk from 'chalk';

// chalk looks at the TTY and FORCE_COLOR but not at NO_COLOR (https://no-color.org): honour it here.
if (process.env.NO_COLOR) chalk.level = 0;

/** The only place the CLI prints. Humans get short coloured lines (colour only on a TTY); machines get JSON. */
export const out = {
  json(value: unknown): void {
    process.stdout.write(`${JSON.stringify(value)}\n`);
  },
  /** Text printed exactly as given (documents such as YAML). */
  raw(text: string): void {
    process.stdout.write(text);
  },
  line(text: string): void {
    process.stdout.write(`${text}\n`);
  },
  success(text: string): void {
    process.stdout.write(`${chalk.green('✔')} ${text}\n`);
  },
  info(text: string): void {
    process.stdout.write(`${chalk.dim(text)}\n`);
  },
  /** Instructions for a person while stdout carries the machine-readable answer. */
  notice(text: string): void {
    process.stderr.write(`${text}\n`);
  },
  warn(text: string): void {
    process.stderr.write(`${chalk.yellow('!')} ${text}\n`);
  },
  error(text: string): void {
    process.stderr.write(`${chalk.red('error:')} ${text}\n`);
  },
  /** For --debug: the full stack. */
  debug(err: unknown): void {
    process.stderr.write(`${chalk.dim(err instanceof Error ? (err.stack ?? err.message) : String(err))}\n`);
  },
  highlight: (text: string): string => chalk.bold.cyan(text),
  good: (text: string): string => chalk.green(text),
  caution: (text: string): string => chalk.yellow(text),
  bad: (text: string): string => chalk.red(text),
  dim: (text: string): string => chalk.dim(text),
  colorError: (text: string): string => chalk.red(text),
  /** Width of the terminal stdout is, or undefined when it is a pipe or a file. */
  columns: (): number | undefined => (process.stdout.isTTY ? process.stdout.columns : undefined),
};
