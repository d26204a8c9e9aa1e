// Gathers the pages of a `room.members` list, so the session acts once on the whole list (a newer list stops an older one).
import type { EventOf, ParticipantSnapshot } from '../../../protocol/messages.ts';

export class MemberPages {
  private gathered: ParticipantSnapshot[] = [];
  private expected = 0;

  /**
   * Takes one page; gives the whole list once its last page is in, else null. A first page starts a new list, and
   * a page out of turn (a list cut short by a reconnect) drops what was gathered until the next first page.
   */
  add({ participants, page }: EventOf<'room.members'>): ParticipantSnapshot[] | null {
    if (!page) return participants;
    if (page.index === 0) {
      this.gathered = [];
      this.expected = 0;
    } else if (page.index !== this.expected) {
      this.gathered = [];
      this.expected = -1;
      return null;
    }
    this.gathered.push(...participants);
    this.expected = page.index + 1;
    if (this.expected < page.of) return null;
    const whole = this.gathered;
    this.gathered = [];
    this.expected = 0;
    return whole;
  }
}
