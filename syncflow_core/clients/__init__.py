"""Stage 1 and stage 8: httpx clients for APISmith and ScheduleHub."""
