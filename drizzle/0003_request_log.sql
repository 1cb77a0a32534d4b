CREATE TABLE `requests` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`ts` integer NOT NULL,
	`request_id` text NOT NULL,
	`key_id` text,
	`key_name` text,
	`client_ip` text,
	`method` text NOT NULL,
	`endpoint` text NOT NULL,
	`model` text,
	`alias` text,
	`provider` text,
	`upstream_model` text,
	`upstream_key` text,
	`status` integer NOT NULL,
	`error_type` text,
	`error_message` text,
	`attempts` integer,
	`stream` integer DEFAULT false NOT NULL,
	`latency_ms` integer NOT NULL,
	`ttft_ms` integer,
	`prompt_tokens` integer,
	`completion_tokens` integer,
	`cached_tokens` integer,
	`reasoning_tokens` integer,
	`cost_usd` real,
	`usage_source` text NOT NULL,
	`delivered_events` integer,
	`request_body` text,
	`response_body` text
);
--> statement-breakpoint
CREATE INDEX `requests_ts_idx` ON `requests` (`ts`);--> statement-breakpoint
CREATE INDEX `requests_key_ts_idx` ON `requests` (`key_id`,`ts`);--> statement-breakpoint
CREATE INDEX `requests_model_ts_idx` ON `requests` (`model`,`ts`);--> statement-breakpoint
CREATE INDEX `requests_status_ts_idx` ON `requests` (`status`,`ts`);--> statement-breakpoint
CREATE TABLE `usage_daily` (
	`day` text NOT NULL,
	`key_id` text NOT NULL,
	`model` text NOT NULL,
	`provider` text NOT NULL,
	`requests` integer DEFAULT 0 NOT NULL,
	`errors` integer DEFAULT 0 NOT NULL,
	`prompt_tokens` integer DEFAULT 0 NOT NULL,
	`completion_tokens` integer DEFAULT 0 NOT NULL,
	`cached_tokens` integer DEFAULT 0 NOT NULL,
	`reasoning_tokens` integer DEFAULT 0 NOT NULL,
	`cost_usd` real DEFAULT 0 NOT NULL,
	PRIMARY KEY(`day`, `key_id`, `model`, `provider`)
);
--> statement-breakpoint
CREATE TABLE `usage_hourly` (
	`hour` integer PRIMARY KEY NOT NULL,
	`requests` integer DEFAULT 0 NOT NULL,
	`errors` integer DEFAULT 0 NOT NULL,
	`rate_limited` integer DEFAULT 0 NOT NULL,
	`prompt_tokens` integer DEFAULT 0 NOT NULL,
	`completion_tokens` integer DEFAULT 0 NOT NULL,
	`cost_usd` real DEFAULT 0 NOT NULL,
	`latency_sum_ms` integer DEFAULT 0 NOT NULL,
	`l0` integer DEFAULT 0 NOT NULL,
	`l1` integer DEFAULT 0 NOT NULL,
	`l2` integer DEFAULT 0 NOT NULL,
	`l3` integer DEFAULT 0 NOT NULL,
	`l4` integer DEFAULT 0 NOT NULL,
	`l5` integer DEFAULT 0 NOT NULL,
	`l6` integer DEFAULT 0 NOT NULL,
	`l7` integer DEFAULT 0 NOT NULL,
	`l8` integer DEFAULT 0 NOT NULL,
	`l9` integer DEFAULT 0 NOT NULL
);
