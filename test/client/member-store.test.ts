import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { generateIdentity, initCrypto } from '../../crypto/index.ts';
import { storedMember, storeMember, type StoredMember } from '../../client/src/session/member-store.ts';

beforeAll(() => initCrypto());

/** sessionStorage as the browser has it, with a switch to refuse writes (a full quota). */
function fakeStorage() {
  const items = new Map<string, string>();
  const storage = {
    full: false,
    getItem: (k: string) => items.get(k) ?? null,
    setItem: (k: string, v: string) => {
      if (storage.full) throw new DOMException('quota', 'QuotaExceededError');
      items.set(k, v);
    },
    removeItem: (k: string) => void items.delete(k),
  };
  vi.stubGlobal('sessionStorage', storage);
  return storage;
}
afterEach(() => vi.unstubAllGlobals());

const member = (epoch: number, distribution: StoredMember['distribution'] = null): StoredMember => ({
  identity: generateIdentity(),
  kem: null,
  name: 'Ann',
  announcement: 'a',
  resumeToken: 't',
  participantId: 'p',
  epoch,
  distribution,
});

describe('member-store: the write-ahead watermark and what a distributor needs after a reload', () => {
  it('keeps the distributor state (stage in order, lock, removed members) and reads back the same', () => {
    fakeStorage();
    const distribution = {
      stage: [
        { memberKeyId: 'h', senderIndex: 0, role: 'host' as const },
        { memberKeyId: 's', senderIndex: 3, role: 'speaker' as const },
      ],
      locked: true,
      removed: ['k'],
    };
    expect(storeMember('room', member(9, distribution))).toBe('stored');
    expect(storedMember('room')).toMatchObject({ epoch: 9, distribution });
  });

  it('a malformed distributor state reads as none: the member comes back, but not as the distributor', () => {
    const storage = fakeStorage();
    storeMember('room', member(4));
    const raw = JSON.parse(storage.getItem('teahouse.member.room')!);
    storage.setItem('teahouse.member.room', JSON.stringify({ ...raw, distribution: { stage: [{ memberKeyId: 'x', senderIndex: 0, role: 'listener' }], locked: false, removed: [] } }));
    expect(storedMember('room')).toMatchObject({ epoch: 4, distribution: null });
  });

  it('a write refused by storage removes the entry: no reload can come back with an older watermark', () => {
    const storage = fakeStorage();
    expect(storeMember('room', member(4))).toBe('stored');
    storage.full = true;
    expect(storeMember('room', member(5))).toBe('forgotten');
    expect(storedMember('room')).toBeNull();
  });
});
