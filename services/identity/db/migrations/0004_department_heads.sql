-- A department's head (负责人): the user approvals and escalations go to ("the submitter's
-- manager", "N levels up"). Nullable; checked in code to be an active user of the tenant. No foreign
-- key: users already reference departments, and a cycle would make the tenant purge's
-- children-before-parents order impossible; a deactivated head stays named here and readers skip
-- them (workflows goes up the tree).
ALTER TABLE identity.departments ADD COLUMN head_user_id uuid;
