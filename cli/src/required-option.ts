import { Option, type Command } from 'commander';

/**
 * A required option, checked once parsing is done. Commander checks `requiredOption` before it
 * looks for unknown options, so `--prot 3000` would be told "--port not specified" instead of
 * "unknown option '--prot' (Did you mean --port?)"; this keeps commander's order for typos.
 * `unless` names the option (attribute name) that makes this one unnecessary (`--config` for `--port`).
 */
export function requireOption(command: Command, flags: string, description: string, example: string, unless?: string): Command {
  const option = new Option(flags, description);
  command.addOption(option);
  return command.hook('preAction', (_program, action) => {
    if (action !== command || action.getOptionValue(option.attributeName()) !== undefined) return;
    if (unless !== undefined && action.getOptionValue(unless) !== undefined) return; // another option stands in for it
    action.error(`error: required option '${flags}' not specified (e.g. ${example})`, { code: 'commander.missingMandatoryOptionValue' });
  });
}
