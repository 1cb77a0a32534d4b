CREATE TABLE `disabled_upstream_keys` (
	`provider` text NOT NULL,
	`fingerprint` text NOT NULL,
	`reason` text NOT NULL,
	`disabled_at` integer NOT NULL,
	PRIMARY KEY(`provider`, `fingerprint`)
);
