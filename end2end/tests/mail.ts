// Reading the mails the server sent, from maildev's REST API (GET /email). Every test uses its own
// recipient address, so mails are picked by recipient and the sink is never emptied (it may be
// shared with the Rust tests or with a developer's maildev).

import { expect, test, type Page } from "@playwright/test";
import { MAILDEV_URL, SMTP_PORT } from "./env";

export { MAILDEV_URL };

export interface Mail {
  id: string;
  subject: string;
  text: string;
  html: string;
  to: { address: string; name?: string }[];
}

const isCI = ["true", "1"].includes((process.env.CI ?? "").toLowerCase());

/**
 * Skips the calling test (or fails it under CI) when the server under test has no SMTP sink:
 * call it first in every test that reads mail.
 */
export function requireMailSink(): void {
  if (SMTP_PORT) return;
  const why =
    "no mail sink: KEYWARDEN_TEST_SMTP_PORT is unset (scripts/test.sh starts maildev and sets it)";
  if (isCI) throw new Error(`CI=true: ${why}`);
  test.skip(true, why);
}

/** Every mail maildev holds for `address` (case-insensitive), oldest first. */
export async function mailsTo(address: string): Promise<Mail[]> {
  const url = `${MAILDEV_URL}/email`;
  let response: Response;
  try {
    response = await fetch(url);
  } catch (error) {
    throw new Error(`maildev does not answer at ${url}: ${String(error)}`);
  }
  if (!response.ok) throw new Error(`GET ${url} answered ${response.status}`);
  const all = (await response.json()) as Mail[];
  const wanted = address.toLowerCase();
  return all.filter((mail) => (mail.to ?? []).some((to) => to.address.toLowerCase() === wanted));
}

/**
 * Waits (polling maildev, up to `timeoutMs`) for a mail to `address` whose subject contains
 * `subject` (a string) or matches it (a RegExp), and returns it.
 */
export async function waitForMail(
  address: string,
  subject: string | RegExp,
  timeoutMs = 15_000,
): Promise<Mail> {
  const matches = (mail: Mail) =>
    typeof subject === "string" ? mail.subject.includes(subject) : subject.test(mail.subject);
  let found: Mail | undefined;
  await expect(async () => {
    const seen = await mailsTo(address);
    found = seen.find(matches);
    const subjects = seen.map((mail) => JSON.stringify(mail.subject)).join(", ") || "none";
    expect(
      found,
      `a mail to ${address} with subject ${String(subject)} ` +
        `(mails to that address: ${subjects}; maildev ${MAILDEV_URL})`,
    ).toBeDefined();
  }).toPass({ timeout: timeoutMs, intervals: [250, 500] });
  return found!;
}

/** The server's outbox counts, read by an administrator (`admin_mail_overview`). */
async function outboxQueued(admin: Page): Promise<number> {
  const origin = new URL(admin.url()).origin;
  // The page's own cookies; the Origin header passes the server's cross-site request guard.
  const response = await admin.request.post(`${origin}/api/admin_mail_overview`, {
    headers: { origin },
  });
  if (!response.ok()) {
    throw new Error(`POST /api/admin_mail_overview answered ${response.status()}: ${await response.text()}`);
  }
  const overview = (await response.json()) as { queued: number };
  return overview.queued;
}

/**
 * Asserts that maildev holds exactly `count` mails to `address` for which `wanted` is true, once
 * no more can arrive: it waits until the server's outbox has nothing queued (every mail queued
 * so far, by the requests that already returned, has been handed to maildev), then until the
 * count reads the same on three polls in a row, and expects that count. The check that a mail was
 * *not* sent, without a fixed sleep.
 *
 * `admin` is a page signed in as an administrator of the same server, showing any page of it.
 */
export async function expectSettledMailCount(
  admin: Page,
  address: string,
  wanted: (mail: Mail) => boolean,
  count: number,
): Promise<void> {
  await expect
    .poll(() => outboxQueued(admin), {
      message: "the server's outbox has nothing queued",
      timeout: 20_000,
      intervals: [100, 250, 500],
    })
    .toBe(0);
  const seen: number[] = [];
  await expect
    .poll(
      async () => {
        seen.push((await mailsTo(address)).filter(wanted).length);
        return seen.slice(-3);
      },
      {
        message: `the number of such mails to ${address}, on three polls in a row (maildev ${MAILDEV_URL})`,
        timeout: 10_000,
        intervals: [250],
      },
    )
    .toEqual([count, count, count]);
}
