"""The write path of the worklist: every change of patients, orders, steps, stations and
performed steps goes through a function here, in one transaction, @audited where it
touches patient data.

- patients.py: register and change patients, match the patient an order names;
- stations.py: rooms, their opening hours, the procedure catalogue, known modalities;
- booking.py: book, change, reschedule and cancel orders and their steps;
- performed_steps.py: what modalities report (MPPS) and how the steps follow;
- history.py: the order's history lines; validation.py: model validation as 400s.
"""
