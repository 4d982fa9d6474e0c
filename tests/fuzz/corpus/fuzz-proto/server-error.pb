B
rate_limited	slow downú