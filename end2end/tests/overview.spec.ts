import {
  ADMIN_EMAIL,
  ADMIN_PASSWORD,
  expect,
  expectPath,
  signIn,
  test,
  visit,
} from "./support";

// Admin console → Overview: the figures, the sign-in chart with its table, and each figure
// leading to the filtered list behind it. Runs on the shared server: it only reads, and never
// asserts a figure other specs could change at the same time.

test("the overview charts the last day's sign-ins and leads to the lists behind its figures", async ({
  page,
}) => {
  await signIn(page, ADMIN_EMAIL, ADMIN_PASSWORD);
  await visit(page, "/admin");

  const main = page.getByRole("main");
  await expect(main.getByRole("heading", { level: 2, name: "Security posture" })).toBeVisible();
  await expect(main.getByRole("heading", { level: 2, name: "Audit chain" })).toBeVisible();
  await expect(main.getByRole("heading", { level: 2, name: "Mail outbox" })).toBeVisible();

  // The chart is an image with a name and a description; the same figures are in a table.
  const chart = main.getByRole("img", { name: /Sign-ins per hour, last 24 hours/ });
  await expect(chart).toBeVisible();
  await main.getByText("Sign-ins per hour as a table").click();
  const table = main.getByRole("table", { name: "Sign-ins per hour (UTC)" });
  await expect(table).toBeVisible();
  await expect(table.getByRole("row")).toHaveCount(25); // a heading row and 24 hours
  // The admin's own sign-in above is counted in the current hour.
  const signedIn = await table.getByRole("row").nth(1).getByRole("cell").nth(1).innerText();
  expect(Number(signedIn.replace(/\D/g, ""))).toBeGreaterThan(0);

  // A figure is a link to its filtered list.
  await main.getByRole("link", { name: /Disabled accounts/ }).click();
  await expectPath(page, "/admin/users");
  await expect(page).toHaveURL((url) => url.searchParams.get("status") === "disabled");
  await expect(page.getByLabel("Status")).toHaveValue("disabled");

  await visit(page, "/admin");
  await main.getByRole("link", { name: /Resets completed, last 7 days/ }).click();
  await expectPath(page, "/admin/audit");
  await expect(page).toHaveURL(
    (url) =>
      url.searchParams.get("action") === "reset_task.completed" &&
      /^\d{4}-\d{2}-\d{2}$/.test(url.searchParams.get("from") ?? ""),
  );
});
