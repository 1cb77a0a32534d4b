CREATE TABLE `instances` (
	`id` text PRIMARY KEY NOT NULL,
	`host` text NOT NULL,
	`version` text NOT NULL,
	`worker` integer,
	`started_at` integer NOT NULL,
	`last_seen` integer NOT NULL,
	`stopped_at` integer,
	`inflight_requests` integer DEFAULT 0 NOT NULL,
	`inflight_streams` integer DEFAULT 0 NOT NULL,
	`requests_per_minute` integer DEFAULT 0 NOT NULL
);
--> statement-breakpoint
CREATE INDEX `instances_last_seen_idx` ON `instances` (`last_seen`);