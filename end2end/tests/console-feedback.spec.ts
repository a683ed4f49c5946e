// The console's feedback after an action: the notice describes the latest action (with its counts,
// in the singular when there is one), and a dialog whose action is done closes and forgets what was
// typed in it, so it cannot be sent twice by accident.
//
// The user-page test runs on the shared server (it acts on a member of its own). "Sign out
// everyone" changes the whole instance, so the Security-page test starts a server of its own (as
// forward-auth.spec.ts does), where the admin is the only user with the only session.

import { spawn, type ChildProcess } from "node:child_process";
import * as path from "node:path";
import type { Locator, Page } from "@playwright/test";
import {
  ADMIN_EMAIL,
  ADMIN_PASSWORD,
  MEMBER_PASSWORD,
  expect,
  settle,
  signIn,
  signUp,
  test,
  uniqueEmail,
  visit,
} from "./support";
import { newPerson, newSignedInMember, openUser, screenshot } from "./incident-support";
import { freePort, stopProcess } from "./proxy-support";

const ROOT = path.resolve(__dirname, "..", "..");
const REASON = "Password reused on a breached site (browser test)";

/** The notice of the page (the alerts with role status outside any dialog). */
function notice(page: Page): Locator {
  return page.getByRole("main").getByRole("status").filter({ hasText: /^(Done: |Password |\d+ session|Session |Account )/ });
}

test("a member's page: each notice tells the latest action, and the done dialog is closed and empty", async ({
  browser,
  page,
}) => {
  // A member with exactly one session, in a browser of their own.
  const { email, member } = await newSignedInMember(browser, "feedback");

  await signIn(page, ADMIN_EMAIL, ADMIN_PASSWORD);
  await openUser(page, email);
  const actions = page.getByRole("region", { name: "Actions", exact: true });
  const dialog = actions.getByRole("group");
  const reason = actions.getByLabel("Reason", { exact: true });
  const signOutToo = actions.getByLabel("Also sign out all sessions");

  // First action: the password is compromised, the session is left signed in.
  await actions.getByText("Set password as compromised…", { exact: true }).click();
  await expect(reason).toBeVisible();
  await signOutToo.uncheck();
  await reason.fill(REASON);
  await actions.getByRole("button", { name: "Set password as compromised", exact: true }).click();
  await expect(notice(page)).toHaveText(
    "Password set as compromised. 1 session stays signed in, restricted to resetting the password.",
  );

  // The dialog closed and forgot the reason; opened again, it is as new.
  await expect(dialog).not.toHaveAttribute("open");
  await expect(reason).toBeHidden();
  await actions.getByText("Set password as compromised…", { exact: true }).click();
  await expect(reason).toBeVisible();
  await expect(reason).toHaveValue("");
  await expect(signOutToo).toBeChecked();
  await actions.getByText("Set password as compromised…", { exact: true }).click();
  await expect(reason).toBeHidden();

  // The label and the value of the compromise sit side by side, apart.
  const facts = page.getByRole("region", { name: "Password", exact: true });
  const term = facts.getByRole("term").filter({ hasText: /^Compromised$/ });
  await expect(term).toBeVisible();
  const value = term.locator("xpath=following-sibling::dd[1]");
  await expect(value).toContainText(REASON);
  const [t, v] = [await term.boundingBox(), await value.boundingBox()];
  expect(t!.x + t!.width, "the label ends before its value begins").toBeLessThan(v!.x);

  // Second action, no reload: the notice is about it alone.
  await actions.getByRole("button", { name: "Sign out all sessions", exact: true }).click();
  await expect(notice(page)).toHaveText("1 session signed out.");
  await expect(page.getByText("Password set as compromised.")).toHaveCount(0);
  const sessions = page.getByRole("region", { name: "Sessions", exact: true });
  await expect(sessions.getByText("No active sessions.")).toBeVisible();
  await settle(page);
  await screenshot(page, "console-feedback-user-after-two-actions");

  await member.done();
});

test.describe("the Security page, on a server of its own", () => {
  let server: Server | undefined;
  test.beforeAll(async () => {
    server = await startServer();
  });
  test.afterAll(async () => {
    await server?.stop();
  });

  test("the impact is in the singular, and a done dialog closes, empty, under a notice of the latest action", async ({
    page,
  }) => {
    const url = server!.url;
    await visit(page, `${url}/sign-in`);
    await signIn(page, ADMIN_EMAIL, ADMIN_PASSWORD);
    await visit(page, `${url}/admin/security`);
    await expect(page.getByRole("heading", { name: "Security", exact: true })).toBeVisible();

    // One user, one session: the impact says so in the singular.
    const compromise = await openDialog(page, "Set all passwords as compromised");
    await expect(compromise.getByRole("status")).toHaveText(
      "Affects 1 user with a password and signs out 1 session.",
    );
    await closeDialog(page, "Set all passwords as compromised");

    const signOut = await openDialog(page, "Sign out everyone");
    await expect(signOut.getByRole("status")).toHaveText("Signs out 1 session. Passwords stay valid.");
    await signOut.getByLabel("Reason", { exact: true }).fill(REASON);
    await signOut.getByLabel("Confirmation", { exact: true }).fill("SIGN OUT EVERYONE");
    const stepUp = signOut.getByLabel("Your password", { exact: true });
    if (await stepUp.isVisible()) await stepUp.fill(ADMIN_PASSWORD);
    await signOut.getByRole("button", { name: "Sign out everyone", exact: true }).click();

    await expect(page).toHaveURL((u) => u.searchParams.get("done") === "signed_out");
    await expect(notice(page)).toHaveText(
      "Done: every session issued until now is signed out (1 session). Your own session was re-issued.",
    );
    await expect(page.getByRole("listitem").filter({ hasText: "are signed out" })).toContainText(REASON);
    // Closed, and empty when opened again; the impact counts the admin's re-issued session.
    await expectClosed(signOut);
    const again = await openDialog(page, "Sign out everyone");
    await expect(again.getByLabel("Reason", { exact: true })).toHaveValue("");
    await expect(again.getByLabel("Confirmation", { exact: true })).toHaveValue("");
    await expect(again.getByRole("status")).toHaveText("Signs out 1 session. Passwords stay valid.");
    await closeDialog(page, "Sign out everyone");

    // A second action, without a reload: the notice now tells that one.
    const all = await openDialog(page, "Set all passwords as compromised");
    await all.getByLabel("And sign out every session now").uncheck();
    await expect(all.getByRole("status")).toHaveText(
      "Affects 1 user with a password. Sessions stay signed in until they end.",
    );
    await all.getByLabel("Reason", { exact: true }).fill(REASON);
    await all.getByLabel("Confirmation", { exact: true }).fill("COMPROMISE ALL PASSWORDS");
    const stepUpAll = all.getByLabel("Your password", { exact: true });
    if (await stepUpAll.isVisible()) await stepUpAll.fill(ADMIN_PASSWORD);
    await all.getByRole("button", { name: "Set all passwords as compromised", exact: true }).click();
    await expect(page).toHaveURL((u) => u.searchParams.get("done") === "compromised");
    await expect(notice(page)).toHaveText(
      "Done: every existing password is now compromised (1 user with a password). Signed-in sessions must reset the password at their next request.",
    );
    await expectClosed(all);
    const reopened = await openDialog(page, "Set all passwords as compromised");
    await expect(reopened.getByLabel("Reason", { exact: true })).toHaveValue("");
    await expect(reopened.getByLabel("And sign out every session now")).toBeChecked();
    await expect(reopened.getByRole("status")).toHaveText(
      "Affects 1 user with a password and signs out 1 session.",
    );
    await settle(page);
    await screenshot(page, "console-feedback-security-after-two-actions");
  });
});

/** A dialog of the Incident response panel: a disclosure, found by its summary "<title>…". */
function dialogOf(page: Page, title: string): Locator {
  return page.getByRole("group").filter({ has: page.getByText(`${title}…`, { exact: true }) });
}

async function openDialog(page: Page, title: string): Promise<Locator> {
  await page.getByText(`${title}…`, { exact: true }).click();
  const dialog = dialogOf(page, title);
  await expect(dialog.getByLabel("Confirmation", { exact: true })).toBeVisible();
  return dialog;
}

async function closeDialog(page: Page, title: string): Promise<void> {
  await page.getByText(`${title}…`, { exact: true }).click();
  await expectClosed(dialogOf(page, title));
}

/** Only the disclosure's summary shows: the form inside is out of sight. */
async function expectClosed(dialog: Locator): Promise<void> {
  await expect(dialog).not.toHaveAttribute("open");
  await expect(dialog.getByLabel("Confirmation", { exact: true })).toBeHidden();
}

interface Server {
  url: string;
  stop(): Promise<void>;
}

/** scripts/e2e-server.sh on a free port: a fresh database whose only user is the admin. */
async function startServer(): Promise<Server> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child: ChildProcess = spawn("bash", ["scripts/e2e-server.sh"], {
    cwd: ROOT,
    env: { ...process.env, E2E_PORT: String(port) },
    stdio: ["ignore", "inherit", "inherit"],
  });
  const stop = () => stopProcess(child);
  for (let i = 0; i < 1200; i++) {
    if (child.exitCode !== null) throw new Error("scripts/e2e-server.sh exited while starting");
    try {
      if ((await fetch(`${url}/healthz`)).ok) return { url, stop };
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  await stop();
  throw new Error("scripts/e2e-server.sh did not start within 120 s");
}

