// Addresses a commit's packages to the participants holding their memberKeyIds, in messages the relay accepts.

export interface AddressedPackage {
  to: string;
  package: string;
}

/**
 * The packages of members present, in order, `perMessage` to a message: the first goes with the header in
 * key.commit (empty when no one present has a package), the rest in key.packages. Built in one pass, with no array per
 * package: a fresh epoch in a room of 10,000 has 10,000 of them.
 */
export function addressPackages(packages: readonly { memberKeyId: string; package: string }[], participantOf: ReadonlyMap<string, string>, perMessage: number): AddressedPackage[][] {
  if (!Number.isInteger(perMessage) || perMessage < 1) throw new RangeError('at least one package a message');
  const messages: AddressedPackage[][] = [];
  let message: AddressedPackage[] = [];
  for (const { memberKeyId, package: pkg } of packages) {
    const to = participantOf.get(memberKeyId);
    if (to === undefined) continue;
    if (message.length === perMessage) {
      messages.push(message);
      message = [];
    }
    message.push({ to, package: pkg });
  }
  messages.push(message);
  return messages;
}
