-- title: Monthly sales growth by region
-- description: Order revenue per region and calendar month over the last twelve months, with growth against the month before. Cancelled orders are excluded.
-- chart: line x=month y=sales series=region
WITH monthly AS (
    SELECT
        region,
        DATE_TRUNC('month', created_at) AS month,
        SUM(total) AS sales,
        COUNT(*) AS orders
    FROM orders
    WHERE status <> 'CANCELLED'
    GROUP BY 1, 2
),
with_previous AS (
    SELECT
        region,
        month,
        sales,
        orders,
        LAG(sales) OVER (PARTITION BY region ORDER BY month) AS previous_sales
    FROM monthly
)
SELECT
    region,
    month,
    sales,
    orders,
    previous_sales,
    CASE
        WHEN previous_sales > 0 THEN ROUND(100.0 * (sales - previous_sales) / previous_sales, 2)
    END AS growth_pct
FROM with_previous
WHERE month >= DATEADD(month, -12, DATE_TRUNC('month', GETDATE()))
ORDER BY region, month
