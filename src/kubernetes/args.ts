/**
 * A small flag parser for the `inject` and `injector` subcommands: `--name value`,
 * `--name=value`, boolean `--name`, and positional arguments (`-` included). Unknown flags,
 * a missing value and a repeated flag are usage errors, returned as messages.
 */
export type FlagKinds = Readonly<Record<string, 'string' | 'boolean'>>;

export interface Parsed {
  readonly flags: ReadonlyMap<string, string | true>;
  readonly positionals: readonly string[];
}

/** `aliases` maps short forms to flag names, such as { '-f': '--filename' }. */
export function parseArgs(args: readonly string[], kinds: FlagKinds, aliases: Readonly<Record<string, string>> = {}): Parsed | string {
  const flags = new Map<string, string | true>();
  const positionals: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string;
    if (arg === '-' || !arg.startsWith('-')) {
      positionals.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const written = eq > 0 ? arg.slice(0, eq) : arg;
    const name = aliases[written] ?? written;
    const kind = kinds[name];
    if (kind === undefined) return `unknown flag ${written}`;
    if (flags.has(name)) return `${name} given twice`;
    if (kind === 'boolean') {
      if (eq > 0) return `${name} takes no value`;
      flags.set(name, true);
      continue;
    }
    const value = eq > 0 ? arg.slice(eq + 1) : args[++i];
    if (value === undefined || value === '') return `${name} needs a value`;
    flags.set(name, value);
  }
  return { flags, positionals };
}

/** The string value of a flag that parseArgs checked to be a string flag. */
export function stringFlag(parsed: Parsed, name: string): string | undefined {
  const value = parsed.flags.get(name);
  return typeof value === 'string' ? value : undefined;
}
