CREATE TABLE `adapter_kv` (
	`provider` text NOT NULL,
	`account` text NOT NULL,
	`key` text NOT NULL,
	`value` text NOT NULL,
	`expires_at` integer NOT NULL,
	PRIMARY KEY(`provider`, `account`, `key`)
);
--> statement-breakpoint
CREATE INDEX `adapter_kv_expires_idx` ON `adapter_kv` (`expires_at`);