import winston from 'winston';
import { redact } from './redact.ts';

/** A winston format that removes secrets from the message and from every field. */
const redactSecrets = winston.format((info) => {
  const clean = redact({ ...info });
  for (const key of Object.keys(info)) delete (info as Record<string, unknown>)[key];
  // Symbol keys (level, message, splat) are kept by the spread and restored here.
  return Object.assign(info, clean);
});

/** Errors are logged with their message and stack instead of as `{}`. */
const errorsAsFields = winston.format((info) => {
  for (const [key, value] of Object.entries(info)) {
    if (value instanceof Error) {
      (info as Record<string, unknown>)[key] = { ...value, name: value.name, message: value.message, stack: value.stack };
    }
  }
  return info;
});

function chooseFormat(): winston.Logform.Format {
  const style = process.env.LOG_FORMAT ?? (process.stderr.isTTY ? 'text' : 'json');
  const common = [winston.format.errors({ stack: true }), errorsAsFields(), redactSecrets(), winston.format.timestamp()];
  if (style === 'text') {
    return winston.format.combine(
      ...common,
      winston.format.printf(({ timestamp, level, message, component, ...rest }) => {
        const extras = Object.keys(rest).length ? ` ${JSON.stringify(rest)}` : '';
        return `${String(timestamp)} ${level.padEnd(5)} [${String(component)}] ${String(message)}${extras}`;
      }),
    );
  }
  return winston.format.combine(...common, winston.format.json());
}

const root = winston.createLogger({
  level: process.env.LOG_LEVEL ?? 'info',
  format: chooseFormat(),
  transports: [new winston.transports.Console({ stderrLevels: ['error', 'warn', 'info', 'http', 'verbose', 'debug', 'silly'] })],
});

/**
 * The project's logger: JSON in production (or when LOG_FORMAT=json), readable text on a terminal
 * (LOG_FORMAT=text), secrets always redacted. `component` names the part that logs.
 */
export function createLogger(component: string): winston.Logger {
  return root.child({ component });
}

/** For tests and embedding: the root logger, to attach or replace transports. */
export const rootLogger = root;
