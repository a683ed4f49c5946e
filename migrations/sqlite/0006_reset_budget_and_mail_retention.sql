-- The per-user budget of the reset-password task, shared by every node and kept across restarts:
-- wrong codes and codes sent in a 24-hour window that starts with the first of them. Once the
-- wrong codes are spent, no code is checked or sent until the window ends.
CREATE TABLE reset_code_budget (
    user_id      BIGINT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    window_start BIGINT NOT NULL,
    failures     BIGINT NOT NULL DEFAULT 0,
    codes_sent   BIGINT NOT NULL DEFAULT 0
);

-- Codes are now HMAC-SHA256 under the server key; the unsalted SHA-256 ones left here could be
-- reversed from a copy of the database. They live 10 minutes: the next page load sends a new one.
DELETE FROM reset_codes;

-- Delivered and finally failed mails no longer keep their bodies (links, codes); the reset code
-- is no longer in the subject.
UPDATE outbox SET html = '', text = '' WHERE status IN ('sent', 'failed');
UPDATE outbox SET subject = 'Your verification code' WHERE kind = 'reset_code';
