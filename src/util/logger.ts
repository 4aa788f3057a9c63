// Placeholder until the redacting logger lands (issue 2); API is stable: createLogger(component).
import winston from 'winston';

export function createLogger(component: string): winston.Logger {
  return winston.createLogger({
    level: process.env.LOG_LEVEL ?? 'info',
    defaultMeta: { component },
    format: winston.format.json(),
    transports: [new winston.transports.Console({ stderrLevels: ['error', 'warn', 'info', 'debug'] })],
  });
}
