"""The persistent render queue (SQLite, in the production) and its runners: local worker
processes (`runner`) and a Ray farm (`farm`). `records` holds the job rows and states,
`store` the queue file, `enqueue` turns an edit into jobs, `orders` queues the NLE's orders."""
