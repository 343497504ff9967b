package emulator

import "time"

// Azure moves a project's lastModifiedDateTime on its own: in Microsoft's
// recordings of the analyze-text authoring API (2025-05-15-preview,
// internal/testkit/recorded: authoring-deploy and authoring-project-get) a
// deployment's lastDeployedDateTime is 23:14:04 and the project's
// lastModifiedDateTime, read two minutes later with no label edit in
// between, 23:14:34. Options.ModifiedAfterDeploy emulates that, so a test
// can show that a moved date alone is not a change of content.

// modifyLater schedules p's date to move ModifiedAfterDeploy after a
// deployment that ended at at. Called under e.mu.
func (e *Emulator) modifyLater(p *project, at time.Time) {
	if e.opts.ModifiedAfterDeploy > 0 {
		p.modifiedAt = at.Add(e.opts.ModifiedAfterDeploy)
	}
}

// settleModified moves the dates whose time has come. Called under e.mu by
// settle, after the jobs that ended.
func (e *Emulator) settleModified(now time.Time) {
	if e.opts.ModifiedAfterDeploy <= 0 {
		return
	}
	for _, p := range e.projects {
		if !p.modifiedAt.IsZero() && !now.Before(p.modifiedAt) {
			p.modified, p.modifiedAt = p.modifiedAt, time.Time{}
		}
	}
}
