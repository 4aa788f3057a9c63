// Microsoft.Storage/checkNameAvailability, the subscription-level action of the namespace: the account
// name rules and the accounts that exist.
import type { ArmEngine } from '../../engine.ts';
import { NS, findByName, invalidNameMessage, takenMessage, validName } from './shared.ts';

export function registerNameAvailability(engine: ArmEngine): void {
  // Subscription-level actions of the namespace.
  engine.registerType({
    type: `${NS}/*`,
    tracked: false,
    render: (_e, r) => r.body,
    actions: {
      checknameavailability: {
        method: 'POST',
        async run(e, ctx) {
          const name = String(ctx.body?.name ?? '');
          if (!validName(name)) {
            return { status: 200, body: { nameAvailable: false, reason: 'AccountNameInvalid', message: invalidNameMessage(name) } };
          }
          if (findByName(e, name)) {
            return { status: 200, body: { nameAvailable: false, reason: 'AlreadyExists', message: takenMessage(name) } };
          }
          return { status: 200, body: { nameAvailable: true } };
        },
      },
    },
  });
}
