//! `backend = timely` across local processes.
