// Forward-auth in a browser: an application behind nginx (auth_request) sends an anonymous visitor
// to Keywarden's sign-in page, which brings them back, signed in, to the page they asked for; the
// application shows who they are from the Remote-Email header nginx adds.
//
// The test starts its own Keywarden (cookie domain .kw.test), nginx and upstream application
// (proxy-support.ts); Chromium maps every *.kw.test host to 127.0.0.1.

import { test, expect, settle, uniqueEmail, MEMBER_PASSWORD } from "./support";
import { APP_HOST, AUTH_HOST, nginxProgram, startProtectedSite, type ProtectedSite } from "./proxy-support";

const nginx = nginxProgram();

test.use({
  launchOptions: {
    executablePath: process.env.E2E_CHROMIUM ?? "/usr/bin/chromium",
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--host-resolver-rules=MAP *.kw.test 127.0.0.1",
    ],
  },
});

let site: ProtectedSite | undefined;

test.beforeAll(async () => {
  if (!nginx) {
    if (process.env.CI) throw new Error("nginx is not installed (CI=true: this test is required)");
    return;
  }
  test.setTimeout(120_000);
  site = await startProtectedSite(nginx);
});

test.afterAll(async () => {
  await site?.stop();
});

test("an application behind nginx signs the visitor in through Keywarden and knows who they are", async ({
  page,
}) => {
  test.skip(!nginx, "nginx is not installed");
  const { appUrl, authUrl } = site!;
  const email = uniqueEmail("wiki-reader");

  await page.goto(`${authUrl}/sign-up`);
  await settle(page);
  await page.getByLabel("Email", { exact: true }).fill(email);
  await page.getByLabel("Password", { exact: true }).fill(MEMBER_PASSWORD);
  await page.getByRole("button", { name: "Create account" }).click();
  await expect(page).toHaveURL((url) => url.pathname === "/sign-in");
  await settle(page);

  // The application, anonymously: Keywarden's sign-in page, which knows where to come back to.
  const wanted = `${appUrl}/wiki/Home?section=intro`;
  await page.goto(wanted);
  await expect(page).toHaveURL(
    (url) =>
      url.host === new URL(authUrl).host &&
      url.pathname === "/sign-in" &&
      url.searchParams.get("rd") === wanted,
  );
  await settle(page);
  await expect(page.getByRole("heading", { name: "Sign in" })).toBeVisible();

  await page.getByLabel("Email", { exact: true }).fill(email);
  await page.getByLabel("Password", { exact: true }).fill(MEMBER_PASSWORD);
  await page.getByRole("button", { name: "Sign in" }).click();

  // Back on the page asked for, on the application's host, which was told who signed in.
  await expect(page).toHaveURL(wanted);
  await expect(page.getByRole("heading", { name: "Wiki" })).toBeVisible();
  await expect(page.getByRole("main")).toContainText(`Signed in as ${email} (member)`);
  expect(new URL(page.url()).hostname).toBe(APP_HOST);
  expect(new URL(authUrl).hostname).toBe(AUTH_HOST);
});
