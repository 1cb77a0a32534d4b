CREATE TABLE `stored_responses` (
	`id` text PRIMARY KEY NOT NULL,
	`client_key_id` text NOT NULL,
	`created_at` integer NOT NULL,
	`expires_at` integer NOT NULL,
	`input` text NOT NULL,
	`response` text NOT NULL
);
--> statement-breakpoint
CREATE INDEX `stored_responses_expires_idx` ON `stored_responses` (`expires_at`);