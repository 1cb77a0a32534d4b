CREATE TABLE `client_key_usage` (
	`key_id` text NOT NULL,
	`period_start` integer NOT NULL,
	`requests` integer DEFAULT 0 NOT NULL,
	`tokens` integer DEFAULT 0 NOT NULL,
	`cost_usd` real DEFAULT 0 NOT NULL,
	PRIMARY KEY(`key_id`, `period_start`)
);
--> statement-breakpoint
ALTER TABLE `client_keys` ADD `source` text DEFAULT 'api' NOT NULL;--> statement-breakpoint
ALTER TABLE `client_keys` ADD `enabled` integer DEFAULT true NOT NULL;--> statement-breakpoint
ALTER TABLE `client_keys` ADD `updated_at` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `client_keys` ADD `last_used_at` integer;--> statement-breakpoint
ALTER TABLE `client_keys` ADD `allowed_models` text;--> statement-breakpoint
ALTER TABLE `client_keys` ADD `allowed_ips` text;--> statement-breakpoint
ALTER TABLE `client_keys` ADD `rpm` integer;--> statement-breakpoint
ALTER TABLE `client_keys` ADD `tpm` integer;--> statement-breakpoint
ALTER TABLE `client_keys` ADD `max_concurrent` integer;--> statement-breakpoint
ALTER TABLE `client_keys` ADD `quota_period` text;--> statement-breakpoint
ALTER TABLE `client_keys` ADD `quota_tokens` integer;--> statement-breakpoint
ALTER TABLE `client_keys` ADD `quota_requests` integer;--> statement-breakpoint
ALTER TABLE `client_keys` ADD `budget_usd` real;--> statement-breakpoint
ALTER TABLE `client_keys` ADD `quota_reset_time` text DEFAULT '00:00' NOT NULL;--> statement-breakpoint
ALTER TABLE `client_keys` ADD `quota_timezone` text DEFAULT 'UTC' NOT NULL;--> statement-breakpoint
ALTER TABLE `client_keys` ADD `metadata` text;