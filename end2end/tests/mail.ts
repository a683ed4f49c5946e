// Reading the mails the server sent, from maildev's REST API (GET /email). Every test uses its own
// recipient address, so mails are picked by recipient and the sink is never emptied (it may be
// shared with the Rust tests or with a developer's maildev).

import { test } from "@playwright/test";
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
  const deadline = Date.now() + timeoutMs;
  let seen: Mail[] = [];
  for (;;) {
    seen = await mailsTo(address);
    const found = seen.find(matches);
    if (found) return found;
    if (Date.now() >= deadline) break;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  const subjects = seen.map((mail) => JSON.stringify(mail.subject)).join(", ") || "none";
  throw new Error(
    `no mail to ${address} with subject ${String(subject)} within ${timeoutMs} ms ` +
      `(mails to that address: ${subjects}; maildev ${MAILDEV_URL})`,
  );
}
