DROP INDEX `requests_key_ts_idx`;--> statement-breakpoint
DROP INDEX `requests_model_ts_idx`;--> statement-breakpoint
DROP INDEX `requests_status_ts_idx`;--> statement-breakpoint
CREATE INDEX `requests_key_idx` ON `requests` (`key_id`);--> statement-breakpoint
CREATE INDEX `requests_model_idx` ON `requests` (`model`);--> statement-breakpoint
CREATE INDEX `requests_status_idx` ON `requests` (`status`);