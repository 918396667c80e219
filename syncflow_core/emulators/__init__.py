"""Emulators of APISmith and ScheduleHub that follow their contracts, and the ERP data generator."""
