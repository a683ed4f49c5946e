import type { Locator, Page } from "@playwright/test";
import {
  ADMIN_EMAIL,
  ADMIN_PASSWORD,
  expect,
  expectPath,
  settle,
  signIn,
  test,
  visit,
} from "./support";

// The admin's e-mail pages: sender details and the template editor. Both change instance-wide
// settings that every mail uses, so this spec runs against a server of its own (project
// "mail-settings-server" in playwright.config.ts): other specs' mails never show them. Within this
// file, each test still puts the defaults back in an afterEach hook (which runs even when the test
// fails half-way), so neither test depends on the other's order.

const TEMPLATE = "Password reset link";
const DEFAULT_PRODUCT_NAME = "Keywarden";
const CUSTOM_SUBJECT = "Reset it now, {{ user_email }}";

/** From the admin console to the E-mail page through the admin navigation. */
async function openMailAdmin(page: Page): Promise<void> {
  await visit(page, "/admin");
  await page
    .getByRole("navigation", { name: "Admin" })
    .getByRole("link", { name: "E-mail" })
    .click();
  await expectPath(page, "/admin/email");
  await expect(page.getByRole("heading", { name: "E-mail", exact: true })).toBeVisible();
  await settle(page);
}

/** The entry of the password-reset template in the Templates list of the E-mail page. */
function templateEntry(page: Page) {
  return page
    .getByRole("region", { name: "Templates" })
    .getByRole("listitem")
    .filter({ has: page.getByRole("link", { name: TEMPLATE, exact: true }) });
}

/** The subject line of the preview ("Subject: Reset your Keywarden password"). */
function previewSubject(page: Page): Locator {
  return page
    .getByRole("region", { name: "Preview with sample data" })
    .getByRole("paragraph")
    .filter({ hasText: /^Subject: / });
}

/**
 * From the E-mail page to the editor of the password-reset template (a client-side navigation:
 * the app is already hydrated). `settle` is not used on the editor: the preview's sandboxed
 * iframe, added after the page loaded, never reports network idle to Playwright.
 */
async function openTemplateEditor(page: Page): Promise<void> {
  await templateEntry(page).getByRole("link", { name: TEMPLATE, exact: true }).click();
  await expect(page.getByRole("heading", { name: `Template: ${TEMPLATE}` })).toBeVisible();
  await expect(previewSubject(page)).toBeVisible();
}

/** Puts the shipped password-reset template back if it is customized (test cleanup). */
async function resetTemplateIfCustomized(page: Page): Promise<void> {
  await openMailAdmin(page);
  if ((await templateEntry(page).getByText("Customized").count()) === 0) return;
  await openTemplateEditor(page);
  await page.getByRole("button", { name: "Reset to default" }).click();
  await expect(page.getByRole("button", { name: "Reset to default" })).toHaveCount(0);
}

function senderForm(page: Page) {
  const region = page.getByRole("region", { name: "Sender details" });
  return {
    region,
    productName: region.getByLabel("Product name", { exact: true }),
    supportEmail: region.getByLabel("Support email", { exact: true }),
    save: region.getByRole("button", { name: "Save sender details" }),
  };
}

test.describe("template editor", () => {
  test.afterEach(async ({ page }) => resetTemplateIfCustomized(page));

  test("the admin edits, previews, saves and resets the password-reset template", async ({
    page,
  }) => {
    await signIn(page, ADMIN_EMAIL, ADMIN_PASSWORD);
    await openMailAdmin(page);
    await expect(templateEntry(page).getByText("Customized")).toHaveCount(0);
    await openTemplateEditor(page);

    const subject = page.getByLabel("Subject", { exact: true });
    await expect(subject).toHaveValue("Reset your {{ product_name }} password");
    await expect(page.getByLabel("HTML body", { exact: true })).toBeVisible();
    await expect(page.getByLabel("Plain-text body", { exact: true })).toBeVisible();
    const save = page.getByRole("button", { name: "Save template" });
    await expect(save).toBeVisible();
    await expect(page.getByRole("button", { name: "Reset to default" })).toHaveCount(0);

    const preview = page.getByRole("region", { name: "Preview with sample data" });
    await expect(preview.getByRole("heading", { name: "Preview with sample data" })).toBeVisible();
    const subjectLine = previewSubject(page);
    await expect(subjectLine).toHaveText("Subject: Reset your Keywarden password");
    await expect(preview.getByTitle("HTML preview")).toBeVisible();
    const htmlPreview = preview.getByTitle("HTML preview").contentFrame();
    await expect(htmlPreview.getByRole("heading", { name: "Reset your password" })).toBeVisible();

    // The preview follows the draft, rendered with the sample data.
    await subject.fill(CUSTOM_SUBJECT);
    await expect(subjectLine).toHaveText("Subject: Reset it now, ada@example.org");

    await save.click();
    await expect(page.getByRole("status").filter({ hasText: "Template saved." })).toBeVisible();

    // The list marks it as customized, and the editor now offers to go back to the default.
    await page.getByRole("link", { name: "← E-mail" }).click();
    await expectPath(page, "/admin/email");
    await expect(templateEntry(page).getByText("Customized", { exact: true })).toBeVisible();
    await openTemplateEditor(page);
    await expect(subject).toHaveValue(CUSTOM_SUBJECT);
    await expect(subjectLine).toHaveText("Subject: Reset it now, ada@example.org");
    await expect(page.getByRole("button", { name: "Reset to default" })).toBeVisible();

    // A template that does not render: the preview says so, and saving is refused with the
    // error next to the Subject field.
    await subject.fill("Hi {% if %}");
    await expect(preview.getByRole("alert")).toContainText("cannot be rendered");
    await expect(subjectLine).toHaveCount(0);

    const answer = page.waitForResponse((r) => r.url().includes("/api/admin_save_template"));
    await save.click();
    expect((await answer).status(), "saving a broken template is refused").toBeGreaterThanOrEqual(
      400,
    );
    const edit = page.getByRole("region", { name: "Edit" });
    await expect(edit.getByRole("alert")).toHaveCount(1);
    await expect(edit.getByRole("alert")).toContainText("cannot be rendered");
    await expect(page.getByText("Template saved.")).toHaveCount(0);

    // Nothing was stored: the editor still loads the last valid subject.
    await page.reload();
    await expect(page.getByRole("heading", { name: `Template: ${TEMPLATE}` })).toBeVisible();
    await expect(subject).toHaveValue(CUSTOM_SUBJECT);
    await settle(page);

    // Back to the shipped template.
    await page.getByRole("button", { name: "Reset to default" }).click();
    await expect(page.getByRole("button", { name: "Reset to default" })).toHaveCount(0);
    await expect(subject).toHaveValue("Reset your {{ product_name }} password");
    await expect(subjectLine).toHaveText("Subject: Reset your Keywarden password");
    await page.getByRole("link", { name: "← E-mail" }).click();
    await expectPath(page, "/admin/email");
    await expect(templateEntry(page)).toBeVisible();
    await expect(templateEntry(page).getByText("Customized")).toHaveCount(0);
  });
});

test.describe("sender details", () => {
  // Mail subjects in other tests use the product name: put the defaults back.
  test.afterEach(async ({ page }) => {
    const { region, productName, supportEmail, save } = senderForm(page);
    await visit(page, "/admin/email");
    await productName.fill(DEFAULT_PRODUCT_NAME);
    await supportEmail.fill("");
    await save.click();
    await expect(region.getByRole("status").filter({ hasText: "Settings saved." })).toBeVisible();
    await visit(page, "/admin/email");
    await expect(productName).toHaveValue(DEFAULT_PRODUCT_NAME);
  });

  test("the admin sets the sender details; an invalid support email is refused", async ({
    page,
  }) => {
    await signIn(page, ADMIN_EMAIL, ADMIN_PASSWORD);
    await openMailAdmin(page);
    const { region, productName, supportEmail, save } = senderForm(page);
    await expect(productName).toHaveValue(DEFAULT_PRODUCT_NAME);

    await productName.fill("Keywarden Staging");
    await supportEmail.fill("not-an-email");
    await save.click();
    await expect(region.getByText(/valid email/)).toBeVisible();
    await expect(region.getByText("Settings saved.")).toHaveCount(0);

    // Nothing was stored.
    await visit(page, "/admin/email");
    await expect(productName).toHaveValue(DEFAULT_PRODUCT_NAME);
    await expect(supportEmail).toHaveValue("");

    await productName.fill("Keywarden Staging");
    await supportEmail.fill("security@example.org");
    await save.click();
    await expect(region.getByRole("status").filter({ hasText: "Settings saved." })).toBeVisible();
    await expect(region.getByText(/valid email/)).toHaveCount(0);

    await visit(page, "/admin/email");
    await expect(productName).toHaveValue("Keywarden Staging");
    await expect(supportEmail).toHaveValue("security@example.org");
  });
});
