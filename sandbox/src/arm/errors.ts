// ARM error model: every failure leaves the emulator as `{ error: { code, message, target?, details? } }`
// with the HTTP status real ARM uses for that code.

export interface ArmErrorBody {
  code: string;
  message: string;
  target?: string;
  details?: ArmErrorBody[];
}

export class ArmError extends Error {
  readonly status: number;
  readonly code: string;
  readonly target: string | undefined;
  readonly details: ArmErrorBody[] | undefined;
  readonly headers: Record<string, string>;

  constructor(
    status: number,
    code: string,
    message: string,
    extra: { target?: string; details?: ArmErrorBody[]; headers?: Record<string, string> } = {},
  ) {
    super(message);
    this.name = 'ArmError';
    this.status = status;
    this.code = code;
    this.target = extra.target;
    this.details = extra.details;
    this.headers = extra.headers ?? {};
  }

  toBody(): { error: ArmErrorBody } {
    const error: ArmErrorBody = { code: this.code, message: this.message };
    if (this.target !== undefined) error.target = this.target;
    if (this.details !== undefined) error.details = this.details;
    return { error };
  }
}

export const badRequest = (code: string, message: string, target?: string): ArmError =>
  new ArmError(400, code, message, target === undefined ? {} : { target });

export const invalidParameter = (message: string, target?: string): ArmError =>
  badRequest('InvalidParameter', message, target);

export const conflict = (code: string, message: string): ArmError => new ArmError(409, code, message);

export const resourceNotFound = (type: string, name: string, resourceGroup: string): ArmError =>
  new ArmError(
    404,
    'ResourceNotFound',
    `The Resource '${type}/${name}' under resource group '${resourceGroup}' was not found. ` +
      'For more details please go to https://aka.ms/ARMResourceNotFoundFix',
  );

export const resourceGroupNotFound = (name: string): ArmError =>
  new ArmError(404, 'ResourceGroupNotFound', `Resource group '${name}' could not be found.`);

export const anotherOperationInProgress = (id: string, kind: string): ArmError =>
  new ArmError(
    409,
    'Conflict',
    `Operation on resource '${id}' is not allowed because another operation (${kind}) is in progress. Retry later.`,
  );
