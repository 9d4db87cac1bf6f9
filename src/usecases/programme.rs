//! The resident's weekly programme: this week's plan (made on the week's first request and then
//! kept), the points for goals data uploaded before the plan already meets, and the week's data to
//! show progress against it, in one transaction.

use diesel::QueryResult;

use crate::db::DbConn;
use crate::insights::goals::WeekData;
use crate::insights::programme::{self, WeekPlan};
use crate::insights::store::Subject;
use crate::points::{self, Earner};

/// This week's plan and data for the resident, paying goals already met.
pub fn this_week(conn: &mut DbConn, subject: &Subject, earner: &Earner) -> QueryResult<(WeekPlan, WeekData)> {
    crate::db::transaction(conn, |c| {
        let plan = programme::this_week(c, subject)?;
        // Goals met by data uploaded before the plan was made are paid now (once: the award keys
        // are those of the uploads that would have paid them).
        points::award_week_goals(c, earner, plan.week_start, subject.today)?;
        let week = programme::week_data(c, subject.user_id, plan.week_start)?;
        Ok((plan, week))
    })
}
